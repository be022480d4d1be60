/**
 * The Python peer (clients/python/localsocket.py) from npm test: its own unit
 * tests (wire vectors, names, key file, handshake and messages against fake
 * servers), its name and key-path resolution compared with the Node library's
 * under the same environments, and the Python client against the Node server.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CloseCode, type CloseInfo } from '../src/messages/close.js';
import { listenMessages } from '../src/messages/message-server.js';
import { MessageSocket } from '../src/messages/message-socket.js';
import { listen } from '../src/server.js';
import { lines, makeHome, run as runNode, startMessageServer, stop, until, type Cli, type CliHome } from './cli-helpers.js';
import { distDir, isWindows, tempDir, uniqueName } from './helpers.js';

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
    // No __pycache__ left in the source tree.
    const env = { ...(options.env ?? process.env), PYTHONDONTWRITEBYTECODE: '1' };
    const child = spawn(python!, args, { cwd: options.cwd ?? PY_DIR, env, stdio: ['pipe', 'pipe', 'pipe'] });
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
      // Only the tests that state why they cannot run here may skip (root, Linux).
      const skips = [...run.stderr.matchAll(/\.\.\. skipped '([^']*)'/g)].map((m) => m[1]!);
      for (const why of skips) assert.match(why, /needs root|only on Linux/, `unexpected skip: ${why}`);
      assert.match(run.stderr, /^Ran (\d+) tests/m);
      assert.ok(Number(/^Ran (\d+) tests/m.exec(run.stderr)![1]) >= 30, 'all the Python tests ran');
    } finally {
      fs.rmSync(home, { recursive: true, force: true });
    }
  });
});

describe('docs/PROTOCOL.md is up to date with its template', { skip: SKIP }, () => {
  it('scripts/render-protocol.py renders exactly the committed page', async () => {
    const render = await runPython([path.join(ROOT, 'scripts', 'render-protocol.py'), path.join(ROOT, 'scripts', 'PROTOCOL.template.md')], { cwd: ROOT });
    assert.equal(render.code, 0, render.stderr);
    assert.ok(render.stdout === fs.readFileSync(path.join(ROOT, 'docs', 'PROTOCOL.md'), 'utf8'), 'docs/PROTOCOL.md differs from the rendered template: re-render it');
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
    import { resolveName } from ${JSON.stringify(path.join(distDir, 'src', 'endpoint', 'names.js'))};
    import { defaultKeyPath } from ${JSON.stringify(path.join(distDir, 'src', 'auth', 'key.js'))};
    import { currentPlatform } from ${JSON.stringify(path.join(distDir, 'src', 'endpoint', 'platform.js'))};
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

describe('Python peer against the Node message server', { skip: SKIP }, () => {
  let home: CliHome;
  let name: string;
  let server: Cli;
  const py = (args: string[], input?: string, env?: NodeJS.ProcessEnv): Promise<Run> => runPython([PY_CLI, ...args], { env: env ?? home.env, input: input ?? '', cwd: home.dir });

  before(async () => {
    home = makeHome();
    name = uniqueName('py');
    server = await startMessageServer(home, name);
  });
  after(async () => {
    await stop(server);
    home.remove();
  });

  it('call echo and ping: the same stdout and exit status as the Node CLI', async () => {
    for (const args of [['call', name, 'echo', '{"text":"h\u00e9llo","n":[1,2.5,1e21,null]}'], ['call', name, 'ping']]) {
      const fromPython = await py(args);
      const fromNode = await runNode(home, args);
      assert.equal(fromPython.code, 0, fromPython.stderr);
      assert.equal(fromPython.stderr, '');
      assert.equal(fromPython.stdout, fromNode.stdout);
      assert.equal(fromPython.code, fromNode.code);
    }
    await until(server.stdout, /"method":"ping"/, 'ping line');
  });

  it('notify reaches the server as a notification line', async () => {
    const result = await py(['notify', name, 'from-python', '{"lang":"py"}']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    await until(server.stdout, /"method":"from-python"/, 'notification line');
    const line = lines(server).find((l) => l.method === 'from-python');
    assert.equal(line?.type, 'notification');
    assert.deepEqual(line?.params, { lang: 'py' });
  });

  it('a remote error, a wrong key, a missing server and usage errors: same line and status as the Node CLI', async () => {
    const other = path.join(home.dir, 'wrong-key');
    fs.writeFileSync(other, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
    const cases: Array<[string[], number, RegExp]> = [
      [['call', name, 'no-such-method'], 1, /^localsocket: REMOTE_ERROR: /],
      [['call', name, 'ping', '--key-file', other], 1, /^localsocket: AUTH_FAILED: /],
      [['call', uniqueName('none'), 'ping'], 1, /^localsocket: SERVER_NOT_FOUND: /],
      [['call', name], 2, /^localsocket: INVALID_ARGUMENT: /],
      [['call', name, 'echo', '{bad'], 2, /^localsocket: INVALID_ARGUMENT: /],
      [['call', name, 'echo', '--raw', '--key-file', other], 2, /^localsocket: INVALID_ARGUMENT: /],
    ];
    for (const [args, status, pattern] of cases) {
      const fromPython = await py(args);
      const fromNode = await runNode(home, args);
      assert.equal(fromPython.code, status, `python ${args.join(' ')}: ${fromPython.stderr}`);
      assert.equal(fromNode.code, status, `node ${args.join(' ')}: ${fromNode.stderr}`);
      assert.match(fromPython.stderr, pattern);
      assert.match(fromPython.stderr, /^localsocket: [A-Z_]+: \S.*\n$/);
      assert.equal(fromPython.stdout, '');
      if (status === 1) assert.equal(fromPython.stderr, fromNode.stderr, args.join(' '));
    }
  });

  it('params through stdin (900 KiB) come back whole', async () => {
    const text = JSON.stringify({ blob: 'z'.repeat(900 * 1024) });
    const result = await py(['call', name, 'echo', '-'], text);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `${text}\n`);
  });

  it('--wait: a server started later answers', async () => {
    const late = uniqueName('pylate');
    const waiting = runPython([PY_CLI, 'call', late, 'echo', '"late"', '--wait', '--timeout', '20000'], { env: home.env, cwd: home.dir });
    await new Promise((r) => setTimeout(r, 300));
    const lateServer = await startMessageServer(home, late);
    try {
      const result = await waiting;
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '"late"\n');
    } finally {
      await stop(lateServer);
    }
  });

  it('call and notify --timeout bound the command against a server that never reads: the same TIMEOUT lines as Node', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'stuck');
    const held: net.Socket[] = [];
    const stuck = net.createServer((socket) => {
      socket.pause();
      held.push(socket);
    });
    await new Promise<void>((resolve) => stuck.listen(file, resolve));
    try {
      const input = JSON.stringify('n'.repeat(900 * 1024));
      // The six commands run side by side: each waits out its own 1.5-s deadline.
      const cases = [['notify', file, 'big', '-'], ['call', file, 'big', '-'], ['call', file, 'small']].map((args) => [...args, '--raw', '--timeout', '1500']);
      const results = await Promise.all(cases.map((args) => Promise.all([py(args, input), runNode(home, args, input)])));
      for (const [i, [fromPython, fromNode]] of results.entries()) {
        const args = cases[i]!;
        assert.equal(fromPython.code, 1, args.join(' '));
        assert.match(fromPython.stderr, /^localsocket: TIMEOUT: /);
        assert.equal(fromPython.stderr, fromNode.stderr, args.join(' '));
      }
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => stuck.close(() => resolve()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('raw mode on both sides', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'raw');
    const rawServer = await startMessageServer(home, file, ['--raw']);
    try {
      const result = await py(['call', file, 'echo', '[1,"two"]', '--raw']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '[1,"two"]\n');
    } finally {
      await stop(rawServer);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Python peer as a library, with a Node server that calls it back', { skip: SKIP }, () => {
  it('requests both ways, notifications both ways, and a remote error with code and data', async () => {
    const home = makeHome();
    const file = path.join(home.dir, 'lib.sock');
    const server = await listen(file, { keyFile: home.keyFile });
    const peers: MessageSocket[] = [];
    server.on('newConnection', () => {
      for (let socket = server.nextPendingConnection(); socket; socket = server.nextPendingConnection()) {
        const peer = new MessageSocket(socket);
        peers.push(peer);
        peer.on('error', () => {});
        const binaries: string[] = [];
        peer.on('binary', (data) => binaries.push(data.toString('hex')));
        peer.handle('binaries', () => binaries);
        peer.handle('sum', (params) => (params as number[]).reduce((a, b) => a + b, 0));
        peer.handle('refuse', () => {
          throw Object.assign(new Error('not today'), { code: 4001, data: { retry: false } });
        });
        peer.onNotification('ready', () => {
          void (async () => {
            const added = await peer.request('add', [2, 3], { timeout: 10_000 });
            await peer.notify('done', { added });
          })().catch(() => {});
        });
      }
    });
    const script = `
import json, sys, localsocket as ls
conn = ls.connect(sys.argv[1], key_file=sys.argv[2], timeout=10)
conn.handle("add", lambda p: p[0] + p[1])
out = {"sum": conn.request("sum", [1, 2, 3])}
conn.send_binary(b"\\x00\\xff")
conn.send_binary(b"")
out["binaries"] = conn.request("binaries")
try:
    conn.request("refuse")
except ls.LocalSocketError as e:
    out["error"] = [e.code, e.remote]
conn.notify("ready")
item = conn.receive(timeout=10)
out["done"] = [item.kind, item.method, item.params]
conn.close()
try:
    ls.connect(sys.argv[1], key=bytes(32), timeout=10)
except ls.LocalSocketError as e:
    out["wrong_key"] = e.code
print(json.dumps(out))`;
    try {
      const result = await runPython(['-c', script, file, home.keyFile], { env: { ...home.env, PYTHONPATH: PY_DIR }, cwd: home.dir });
      assert.equal(result.code, 0, result.stderr);
      const out = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.equal(out.sum, 6);
      assert.deepEqual(out.binaries, ['00ff', '']);
      const [code, remote] = out.error as [string, { code: number; message: string; data?: unknown }];
      assert.equal(code, 'REMOTE_ERROR');
      assert.equal(remote.code, 4001);
      assert.equal(remote.message, 'not today');
      assert.deepEqual(remote.data, { retry: false });
      assert.deepEqual(out.done, ['notification', 'done', { added: 5 }]);
      assert.equal(out.wrong_key, 'AUTH_FAILED');
    } finally {
      await Promise.all(peers.map((p) => p.close().catch(() => {})));
      await server.close();
      home.remove();
    }
  });
});

describe('Python peer and the close handshake, against the Node side', { skip: SKIP }, () => {
  it('Python closes with a code and reason; Node closes a Python peer with 1012; a Node failure reaches Python as its code', async () => {
    const home = makeHome();
    const file = path.join(home.dir, 'close.sock');
    const server = await listenMessages(file, { keyFile: home.keyFile, maxMessageSize: 1000 });
    const left: CloseInfo[] = [];
    server.on('peerLeft', (_peer, _reason, info) => left.push(info));
    // Answers nothing: the server restarts, with this request still waiting.
    server.handle('restartSoon', () => {
      void server.close({ code: CloseCode.RESTARTING, reason: 'restart' });
      return new Promise(() => {});
    });
    server.handle('echo', (p) => p);
    const script = `
import json, sys, localsocket as ls
out = {}
conn = ls.connect(sys.argv[1], key_file=sys.argv[2], timeout=10)
out["echo"] = conn.request("echo", 1)
conn.close(4001, "python says bye")
out["own"] = [conn.closed_by, conn.close_code, conn.close_reason]
conn = ls.connect(sys.argv[1], key_file=sys.argv[2], timeout=10)
try:
    conn.request("echo", "x" * 2000)
except ls.LocalSocketError as e:
    out["too_large"] = [e.code, conn.closed_by, conn.close_code, conn.close_reason]
conn = ls.connect(sys.argv[1], key_file=sys.argv[2], timeout=10)
try:
    conn.request("restartSoon", timeout=10)
except ls.LocalSocketError as e:
    out["restart"] = [e.code, conn.closed_by, conn.close_code, conn.close_reason]
print(json.dumps(out))`;
    try {
      const result = await runPython(['-c', script, file, home.keyFile], { env: { ...home.env, PYTHONPATH: PY_DIR }, cwd: home.dir });
      assert.equal(result.code, 0, result.stderr);
      const out = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.equal(out.echo, 1);
      assert.deepEqual(out.own, ['local', 4001, 'python says bye']);
      // Node failed the connection (MESSAGE_TOO_LARGE) and said so: 1009 with its reason.
      const [code, by, closeCode, reason] = out.too_large as [string, string, number, string];
      assert.deepEqual([code, by, closeCode], ['MESSAGE_TOO_LARGE', 'peer', 1009]);
      assert.match(reason, /exceeds maxMessageSize \(1000\)/);
      assert.deepEqual(out.restart, ['PEER_CLOSED', 'peer', 1012, 'restart']);
      // Node saw: Python's clean close with its code, its own failure (1009), its own close (1012).
      assert.deepEqual(left.map((i) => [i.clean, i.by, i.code]), [[true, 'peer', 4001], [false, 'local', 1009], [true, 'local', 1012]]);
      assert.equal(left[0]!.reason, 'python says bye');
    } finally {
      await server.close();
      home.remove();
    }
  });

  it('the Python CLI closes normally (1000) after call and notify', async () => {
    const home = makeHome();
    const file = path.join(home.dir, 'cli.sock');
    const server = await listenMessages(file, { keyFile: home.keyFile });
    server.handle('echo', (p) => p);
    const left: CloseInfo[] = [];
    server.on('peerLeft', (_peer, _reason, info) => left.push(info));
    try {
      const call = await runPython([PY_CLI, 'call', file, 'echo', '[1]', '--key-file', home.keyFile], { env: home.env, cwd: home.dir });
      assert.equal(call.code, 0, call.stderr);
      const notify = await runPython([PY_CLI, 'notify', file, 'note', '--key-file', home.keyFile], { env: home.env, cwd: home.dir });
      assert.equal(notify.code, 0, notify.stderr);
      await until(() => String(left.length), /^2$/, 'both Python peers left');
      for (const i of left) assert.deepEqual([i.clean, i.by, i.code, i.reason], [true, 'peer', 1000, '']);
    } finally {
      await server.close();
      home.remove();
    }
  });
});

describe("the README's Python examples", { skip: SKIP }, () => {
  it('run as written against `localsocket listen mysvc --messages` and print what their comments say', async () => {
    const text = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const at = text.indexOf('<!-- python-examples');
    assert.notEqual(at, -1, 'README has no python-examples marker');
    const shell = /```sh\n([\s\S]*?)\n```/.exec(text.slice(at))?.[1];
    const python = /```python\n([\s\S]*?)\n```/.exec(text.slice(at))?.[1];
    assert.ok(shell && python, 'a sh and a python block after the marker');
    const home = makeHome();
    const server = await startMessageServer(home, 'mysvc');
    try {
      // The shell line: python3 clients/python/localsocket.py ARGS...   # prints: OUTPUT
      const line = /^python3 clients\/python\/localsocket\.py (.*?)\s+# prints: (.*)$/.exec(shell.trim());
      assert.ok(line, shell);
      const args = [...line[1]!.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
      const cli = await runPython([PY_CLI, ...args], { env: home.env, cwd: ROOT });
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.stdout.trim(), line[2]);
      const lib = await runPython(['-c', python], { env: { ...home.env, PYTHONPATH: PY_DIR }, cwd: home.dir });
      assert.equal(lib.code, 0, lib.stderr);
      const expected = [...python.matchAll(/# (\S+)$/gm)].map((m) => m[1]).filter((c) => c !== 'clients/python');
      assert.deepEqual(lib.stdout.trim().split('\n'), expected);
      await until(server.stdout, /"method":"reload"/, 'the notification from the README example');
      assert.deepEqual(lines(server).find((l) => l.method === 'reload')?.params, { all: true });
    } finally {
      await stop(server);
      home.remove();
    }
  });
});

describe('the nesting limit and the key rule, Python peer against Node', { skip: SKIP }, () => {
  it('each side refuses to send past the limit and fails a connection that receives past it; both read the same key file the same way', async () => {
    const home = makeHome();
    const file = path.join(home.dir, 'depth.sock');
    const server = await listen(file, { keyFile: home.keyFile });
    const closes: unknown[] = [];
    server.on('newConnection', () => {
      for (let socket = server.nextPendingConnection(); socket; socket = server.nextPendingConnection()) {
        const peer = new MessageSocket(socket);
        peer.on('error', () => {});
        peer.on('close', (reason) => closes.push(reason));
        // 127 levels inside the envelope: the deepest result a peer may send.
        peer.handle('deep', (n) => JSON.parse('['.repeat(n as number) + ']'.repeat(n as number)) as unknown);
        peer.handle('deepest', () => JSON.parse('['.repeat(127) + ']'.repeat(127)) as unknown);
      }
    });
    const keyDir = tempDir('lskeyrule-');
    const script = `
import json, os, sys, socket, struct, localsocket as ls
out = {}
conn = ls.connect(sys.argv[1], key_file=sys.argv[2], timeout=10)
out["deepest"] = ls.to_json(conn.request("deepest")).count("[")
try:
    conn.request("deep", 128)
except ls.LocalSocketError as e:
    out["node_refused_to_send"] = [e.code, e.remote["code"]]
try:
    conn.send(json.loads("[" * 129 + "]" * 129))
except ls.LocalSocketError as e:
    out["python_refused_to_send"] = e.code
# A frame nested 129 deep, written by hand: Node must fail the connection.
payload = b"[" * 129 + b"]" * 129
conn._write(struct.pack(">BI", 0x4A, len(payload)) + payload)
try:
    conn.request("deepest", timeout=10)
except ls.LocalSocketError as e:
    out["after_deep_frame"] = e.code
out["python_scan"] = [ls.json_too_deep(b"[" * 128 + b"]" * 128), ls.json_too_deep(b"[" * 129 + b"]" * 129), ls.json_too_deep(b'"' + b"[" * 300 + b'"')]
keys = {}
for name in sorted(os.listdir(sys.argv[3])):
    try:
        keys[name] = ls.read_key_file(os.path.join(sys.argv[3], name)).hex()
    except ls.LocalSocketError as e:
        keys[name] = e.code
out["keys"] = keys
print(json.dumps(out))`;
    const keyFiles: Record<string, Buffer> = {
      'bom-and-spaces': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(` \t${'ab'.repeat(1024)}\r\n\n`)]),
      'too-long-key': Buffer.from(`${'ab'.repeat(1025)}\n`),
      'nbsp-around': Buffer.from(`\u00a0${'cd'.repeat(16)}\n`),
      'too-short': Buffer.from(`${'cd'.repeat(15)}\n`),
    };
    try {
      for (const [name, bytes] of Object.entries(keyFiles)) fs.writeFileSync(path.join(keyDir, name), bytes, { mode: 0o600 });
      const result = await runPython(['-c', script, file, home.keyFile, keyDir], { env: { ...home.env, PYTHONPATH: PY_DIR }, cwd: home.dir });
      assert.equal(result.code, 0, result.stderr);
      const out = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.equal(out.deepest, 127);
      assert.deepEqual(out.node_refused_to_send, ['REMOTE_ERROR', -32603]);
      assert.equal(out.python_refused_to_send, 'INVALID_ARGUMENT');
      // The Node side fails the connection with a 1002 close frame, which Python reads before the
      // end of the stream (Node keeps reading while it closes): its request fails with that code.
      assert.equal(out.after_deep_frame, 'PROTOCOL_ERROR');
      assert.deepEqual(out.python_scan, [false, true, false]);
      await until(() => String(closes.length), /^[1-9]/, 'the Node side closed the connection');
      const reason = closes[0] as { code?: string; message?: string };
      assert.equal(reason.code, 'PROTOCOL_ERROR');
      assert.match(reason.message ?? '', /deeper than 128/);
      // Node reads the same files the same way.
      const { readKeyFile } = await import('../src/auth/key.js');
      const { currentPlatform } = await import('../src/endpoint/platform.js');
      const node: Record<string, string> = {};
      for (const name of Object.keys(keyFiles).sort()) {
        try {
          node[name] = readKeyFile(path.join(keyDir, name), currentPlatform()).toString('hex');
        } catch (err) {
          node[name] = (err as { code: string }).code;
        }
      }
      assert.deepEqual(out.keys, node);
      assert.deepEqual(node, { 'bom-and-spaces': 'ab'.repeat(1024), 'nbsp-around': 'ACCESS_DENIED', 'too-long-key': 'ACCESS_DENIED', 'too-short': 'ACCESS_DENIED' });
    } finally {
      await server.close();
      fs.rmSync(keyDir, { recursive: true, force: true });
      home.remove();
    }
  });
});
