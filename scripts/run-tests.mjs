#!/usr/bin/env node
// Runs the compiled test suite in a sandbox of its own, so that a test run
// never touches the user's socket directory, key or temp files:
//   node scripts/run-tests.mjs [--runtime-dir] [--runtime=BIN] [--test-* options] [files...]
// - TMPDIR and XDG_CONFIG_HOME point into a fresh private (0700) temporary
//   root, removed afterwards whatever happens;
// - XDG_RUNTIME_DIR is unset (short names then live in $TMPDIR/localsocket-UID),
//   or with --runtime-dir a fresh 0700 directory inside the root.
// - as root on Linux, second users for the permission tests are made during
//   the run and deleted afterwards, whatever happens (scripts/test-peers.mjs).
// Files default to dist/test/*.test.js. The tests run on the node that runs
// this script (process.execPath), or with --runtime=BIN on Bun or Deno (BIN
// their executable), whose own runners run node:test files: `bun test FILES`,
// `deno test -A FILES`. Exits with the test runner's status.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { removePeers, setupPeers } from './test-peers.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const withRuntimeDir = args.includes('--runtime-dir');
const runtime = args.find((a) => a.startsWith('--runtime='))?.slice('--runtime='.length);
const options = args.filter((a) => a.startsWith('--') && a !== '--runtime-dir' && !a.startsWith('--runtime='));
let files = args.filter((a) => !a.startsWith('--'));
if (files.length === 0) {
  const dir = path.join(repo, 'dist', 'test');
  files = readdirSync(dir)
    .filter((f) => f.endsWith('.test.js'))
    .sort()
    .map((f) => path.join(dir, f));
}
if (!options.some((o) => o.startsWith('--test-concurrency'))) options.push('--test-concurrency=2');

// The root is made under the system temp directory as the caller has it; mkdtemp makes it 0700.
const root = mkdtempSync(path.join(os.tmpdir(), 'localsocket-tests-'));
const env = { ...process.env, TMPDIR: path.join(root, 'tmp'), XDG_CONFIG_HOME: path.join(root, 'config') };
mkdirSync(env.TMPDIR, { mode: 0o700 });
mkdirSync(env.XDG_CONFIG_HOME, { mode: 0o700 });
delete env.XDG_RUNTIME_DIR;
if (withRuntimeDir) {
  env.XDG_RUNTIME_DIR = path.join(root, 'run');
  mkdirSync(env.XDG_RUNTIME_DIR, { mode: 0o700 });
}

/** The runner's command line: node's test runner, or Bun's or Deno's (which take node:test files too). */
function testCommand(bin) {
  if (bin === undefined) return [process.execPath, ['--test', ...options, ...files]];
  const kind = path.basename(bin).replace(/\.exe$/, '');
  // Bun takes a path as a file only with a directory part; otherwise as a name filter.
  // Bun's runner stops any test after 5 s by default; node:test has no such limit and our tests carry their own guards.
  if (kind === 'bun') return [bin, ['test', '--timeout', '120000', ...files.map((f) => (path.isAbsolute(f) ? f : `./${f}`))]];
  if (kind === 'deno') return [bin, ['test', '--allow-all', '--no-check', ...files]];
  throw new Error(`run-tests: --runtime must be a bun or deno executable, not ${bin}`);
}

let peers = null;
let child;
try {
  const setup = setupPeers(repo);
  peers = setup.state;
  delete env.LOCALSOCKET_TEST_PEERS;
  delete env.LOCALSOCKET_TEST_PEERS_SKIP;
  Object.assign(env, setup.env);
  child = spawn(...testCommand(runtime), { stdio: 'inherit', env });
} catch (err) {
  removePeers(peers);
  rmSync(root, { recursive: true, force: true });
  throw err;
}
const forward = (signal) => child.kill(signal);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, forward);
child.on('close', (code, signal) => {
  try {
    removePeers(peers);
  } catch (err) {
    process.stderr.write(`run-tests: removing the test users failed: ${err.message}\n`);
    process.exitCode = 1;
  }
  rmSync(root, { recursive: true, force: true });
  if (signal) {
    process.stderr.write(`run-tests: the test runner was killed by ${signal}\n`);
    process.exitCode = 1;
  } else if (process.exitCode !== 1) {
    process.exitCode = code ?? 1;
  }
});
