#!/usr/bin/env node
// The package as its users get it: packs the tarball (from the current build,
// so run `npm run build` first), installs it into fresh projects - ESM,
// CommonJS, and TypeScript with module node16 and nodenext (each in a
// CommonJS and an ESM project) and bundler resolution - and runs a server and
// a client in each, with the default authentication. Everything happens in one temporary directory
// (keys included), removed at the end. Needs no network: the package has no
// dependencies and TypeScript comes from this repository's node_modules.
//   node scripts/consumer-check.mjs [--js-only] [--exec=BIN]
// --js-only: the ESM and CommonJS projects only (no TypeScript compile), for
// checking the package on other Node versions, where the types do not change.
// --exec=BIN: run the projects on Bun or Deno (BIN their executable) instead
// of this node; the expected output is the same on every runtime.
// The packed size must stay within MAX_PACKED_BYTES: the tarball is what every
// user downloads.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tsc = path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
const typeRoots = path.join(repo, 'node_modules', '@types');
if (!existsSync(path.join(repo, 'dist', 'cjs', 'index.js'))) throw new Error('no build: run npm run build first');

// One program, written once with `import` and once with `require`.
const body = (load) => `${load}
const path = require_path();
async function main() {
  const dir = process.env.CONSUMER_DIR || '.';
  const name = path.join(dir, 'server.sock');
  const server = await listen(name);
  server.on('newConnection', () => {
    for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
      const socket = s;
      socket.on('readyRead', () => void socket.write(socket.readAll()));
    }
  });
  const client = await connect(name, { timeout: 5000 });
  await client.write('ping');
  await client.waitForReadyRead({ timeout: 5000 });
  const reply = client.readAll().toString();
  if (reply !== 'ping') throw new Error('unexpected reply ' + reply);
  let code = 'none';
  try {
    await connect(path.join(dir, 'nobody.sock'), { timeout: 1000 });
  } catch (err) {
    if (!(err instanceof LocalSocketError) || !isLocalSocketError(err, 'SERVER_NOT_FOUND')) throw err;
    code = err.code;
  }
  client.abort();
  await server.close();
  console.log('ok ' + reply + ' ' + code);
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
`;
const esmLoad = "import { connect, listen, LocalSocketError, isLocalSocketError } from 'localsocket';\nimport * as nodePath from 'node:path';\nconst require_path = () => nodePath;";
const cjsLoad = "const { connect, listen, LocalSocketError, isLocalSocketError } = require('localsocket');\nconst require_path = () => require('node:path');";

const allProjects = [
  { name: 'esm', type: 'module', file: 'index.js', source: body(esmLoad) },
  { name: 'commonjs', type: 'commonjs', file: 'index.js', source: body(cjsLoad) },
  { name: 'ts-node16-commonjs', type: 'commonjs', ts: { module: 'node16', moduleResolution: 'node16' } },
  { name: 'ts-node16-esm', type: 'module', ts: { module: 'node16', moduleResolution: 'node16' } },
  { name: 'ts-nodenext-commonjs', type: 'commonjs', ts: { module: 'nodenext', moduleResolution: 'nodenext' } },
  { name: 'ts-nodenext-esm', type: 'module', ts: { module: 'nodenext', moduleResolution: 'nodenext' } },
  { name: 'ts-bundler-esm', type: 'module', ts: { module: 'esnext', moduleResolution: 'bundler' } },
];

/**
 * The size budget of the packed tarball: what it holds today (203 kB: one
 * copy of the library and CLI, its declarations, the Python peer and its
 * tests, the test vectors and the docs, the module map included) plus room,
 * so a second copy or source maps (each well over 100 kB) still fail it.
 */
const MAX_PACKED_BYTES = 220_000;
const exec = process.argv.find((a) => a.startsWith('--exec='))?.slice('--exec='.length);
const execKind = exec === undefined ? 'node' : path.basename(exec).replace(/\.exe$/, '');
if (!['node', 'bun', 'deno'].includes(execKind)) throw new Error(`--exec must be a bun or deno executable, not ${exec}`);
/** How each runtime runs a script. */
const runScript = (entry) => (execKind === 'deno' ? [exec, ['run', '--allow-all', entry]] : [exec ?? process.execPath, [entry]]);
/** What the program prints where everything works, on every runtime. */
const expected = /^ok ping SERVER_NOT_FOUND$/;

const projects = process.argv.includes('--js-only') ? allProjects.filter((p) => !p.ts) : allProjects;
const root = mkdtempSync(path.join(os.tmpdir(), 'localsocket-consumers-'));
let failed = 0;
try {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', root], { cwd: repo, encoding: 'utf8' }));
  const tarball = packed.filename;
  const sizeLine = `packed ${(packed.size / 1000).toFixed(1)} kB, ${packed.entryCount} files, unpacked ${(packed.unpackedSize / 1000).toFixed(1)} kB (budget ${MAX_PACKED_BYTES / 1000} kB packed)`;
  console.log(`consumer-check: ${sizeLine}`);
  if (packed.size > MAX_PACKED_BYTES) {
    failed++;
    console.error(`consumer-check: the tarball is over its size budget: ${sizeLine}`);
  }
  const env = { ...process.env, XDG_CONFIG_HOME: path.join(root, 'config'), TMPDIR: root };
  delete env.XDG_RUNTIME_DIR;
  for (const p of projects) {
    try {
      const dir = path.join(root, p.name);
      mkdirSync(dir);
      writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: `consumer-${p.name}`, private: true, type: p.type }));
      execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', path.join(root, tarball)], { cwd: dir, stdio: 'inherit' });
      let entry = path.join(dir, p.file ?? 'index.js');
      if (p.ts) {
        // TypeScript source: a typed ESM import, compiled with the project's settings and full library checks.
        const ts = `import { connect, listen, LocalSocketError, isLocalSocketError, type LocalSocket } from 'localsocket';
import * as nodePath from 'node:path';
const require_path = () => nodePath;
const typed: (s: LocalSocket) => number = (s) => s.bytesAvailable;
void typed;
${body('').replace('async function main()', 'async function main(): Promise<void>')}`;
        writeFileSync(path.join(dir, 'index.ts'), ts);
        const compilerOptions = { ...p.ts, target: 'es2022', strict: true, skipLibCheck: false, types: ['node'], typeRoots: [typeRoots], outDir: '.' };
        writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: ['index.ts'] }));
        execFileSync(process.execPath, [tsc, '-p', dir], { cwd: dir, stdio: 'inherit' });
        entry = path.join(dir, 'index.js');
      } else {
        writeFileSync(entry, p.source);
      }
      const [bin, binArgs] = runScript(entry);
      const out = execFileSync(bin, binArgs, { cwd: dir, env: { ...env, CONSUMER_DIR: dir }, encoding: 'utf8', timeout: 30_000 }).trim();
      if (!expected.test(out)) throw new Error(`unexpected output: ${out}`);
      console.log(`consumer-check: ${p.name}: ${out}`);
    } catch (err) {
      failed++;
      console.error(`consumer-check: ${p.name}: FAILED: ${err.message.split('\n')[0]}`);
    }
  }
} finally {
  rmSync(root, { recursive: true, force: true });
}
if (failed > 0) {
  console.error(`consumer-check: ${failed} check(s) failed (size budget, ${projects.length} projects)`);
  process.exit(1);
}
const runtimeVersion = exec === undefined ? `node ${process.version}` : `${execKind} ${execFileSync(exec, ['--version'], { encoding: 'utf8' }).trim().split('\n')[0].replace(/^deno /, '')}`;
console.log(`consumer-check: all ${projects.length} projects passed (${runtimeVersion})`);
