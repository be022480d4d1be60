/**
 * The Python peer (clients/python/localsocket.py) from npm test: its own unit
 * tests (wire vectors, names, key file, handshake and messages against fake
 * servers), its name and key-path resolution compared with the Node library's
 * under the same environments, and the Python client against the Node server.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { distDir, isWindows, tempDir } from './helpers.js';

const ROOT = path.resolve(distDir, '..');
const PY_DIR = path.join(ROOT, 'clients', 'python');
const PY_CLI = path.join(PY_DIR, 'localsocket.py');

/** python3 if it is installed and at least 3.9, else null. */
function findPython(): string | null {
  const probe = spawnSync('python3', ['-c', 'import sys; print(sys.version_info >= (3, 9))'], { encoding: 'utf8', timeout: 10_000 });
  return probe.status === 0 && probe.stdout.trim() === 'True' ? 'python3' : null;
}

const python = isWindows ? null : findPython();
const SKIP = isWindows ? 'the Python peer speaks Unix domain sockets only (no named pipes)' : python === null ? 'python3 (3.9 or later) is not installed' : false;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs python3 with `args`; `input` goes to its stdin. Killed (and failed) after `timeoutMs`. */
export function runPython(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string | Buffer; cwd?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(python!, args, { cwd: options.cwd ?? PY_DIR, env: options.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`python ${args.join(' ')} did not finish; stderr: ${Buffer.concat(err).toString()}`));
    }, options.timeoutMs ?? 60_000);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
  });
}

/** A clean environment for a child: only PATH, the temp HOME and what the case sets. */
function cleanEnv(home: string, extra: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: home, ...extra };
}

describe('Python peer: unit tests', { skip: SKIP }, () => {
  it('passes its unit tests (vectors, names, key file, handshake, messages)', async () => {
    const home = tempDir();
    try {
      const run = await runPython(['-m', 'unittest', '-v', 'test_localsocket.py'], {
        env: cleanEnv(home, { LOCALSOCKET_VECTORS: path.join(ROOT, 'docs', 'test-vectors.json') }),
      });
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /^OK/m);
      assert.doesNotMatch(run.stderr, /skipped=/, 'no test skipped unexpectedly');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('Python peer: names and key path resolve as in Node', { skip: SKIP }, () => {
  const NAMES: Array<[string, Record<string, boolean>]> = [
    ['app', {}],
    ['dir/sock', {}],
    ['/abs//p/../s', {}],
    ['.', {}],
    ['x'.repeat(256), {}],
    ['y'.repeat(70), {}],
    ['app', { qtCompatible: true }],
    ['/q/app', { qtCompatible: true }],
  ];
  const nodeScript = `
    import { resolveName } from ${JSON.stringify(path.join(distDir, 'src', 'names.js'))};
    import { defaultKeyPath } from ${JSON.stringify(path.join(distDir, 'src', 'auth', 'key.js'))};
    import { currentPlatform } from ${JSON.stringify(path.join(distDir, 'src', 'platform.js'))};
    const cases = JSON.parse(process.argv[1]);
    const p = currentPlatform();
    const out = cases.map(([name, opts]) => { try { return resolveName(name, opts, p).address; } catch (e) { return e.code; } });
    out.push(defaultKeyPath(p));
    console.log(JSON.stringify(out));`;
  const pyScript = `
import json, sys, localsocket as ls
out = []
for name, opts in json.loads(sys.argv[1]):
    try:
        out.append(ls.resolve_name(name, qt=opts.get("qtCompatible", False)).address)
    except ls.LocalSocketError as e:
        out.append(e.code)
out.append(ls.default_key_path())
print(json.dumps(out))`;

  it('gives the same endpoints and default key path for the same environment', async () => {
    const dir = tempDir();
    try {
      const safe = path.join(dir, 'run-safe');
      const loose = path.join(dir, 'run-loose');
      fs.mkdirSync(safe, { mode: 0o700 });
      fs.mkdirSync(loose, { mode: 0o755 });
      fs.chmodSync(loose, 0o755);
      fs.symlinkSync(safe, path.join(dir, 'run-link'));
      const longTmp = path.join(dir, 't'.repeat(60));
      const envs: Array<Record<string, string>> = [
        { XDG_RUNTIME_DIR: `${safe}/`, XDG_CONFIG_HOME: `${dir}/cfg/` },
        { XDG_RUNTIME_DIR: loose, TMPDIR: '/var/tmp/', XDG_CONFIG_HOME: 'relative' },
        { XDG_RUNTIME_DIR: path.join(dir, 'run-link'), TMP: '/tmp2/x/' },
        { XDG_RUNTIME_DIR: 'run', TMPDIR: '//double//slash/' },
        { TEMP: longTmp },
        {},
      ];
      for (const extra of envs) {
        const env = cleanEnv(path.join(dir, 'home'), extra);
        const arg = JSON.stringify(NAMES);
        const node = spawnSync(process.execPath, ['--input-type=module', '-e', nodeScript, arg], { env, cwd: dir, encoding: 'utf8', timeout: 20_000 });
        assert.equal(node.status, 0, node.stderr);
        const py = await runPython(['-c', pyScript, arg], { env: { ...env, PYTHONPATH: PY_DIR }, cwd: dir });
        assert.equal(py.code, 0, py.stderr);
        assert.deepEqual(JSON.parse(py.stdout), JSON.parse(node.stdout), JSON.stringify(extra));
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
