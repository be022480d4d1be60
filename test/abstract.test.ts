/**
 * Linux abstract names against programs that are not Node (Python's socket
 * module binds `'\0name'` at its exact length, as socat, Qt 6 and libuv 1.48+
 * do), in both directions; and on runtimes whose libuv pads abstract
 * addresses to 108 bytes (Node 20), a clear UNSUPPORTED everywhere instead
 * of a name no other program can reach.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import { connect, listen, type LocalSocket } from '../src/index.js';
import { libuvBindsExactLength, resolveName } from '../src/endpoint/names.js';
import { currentPlatform } from '../src/endpoint/platform.js';
import { abstractWorks, distDir, finished, isLinux, uniqueName, waitForLine } from './helpers.js';

const RAW = { abstract: true, auth: false, access: 'world' } as const;
/** The client side of RAW (`access` is a server option). */
const RAW_CLIENT = { abstract: true, auth: false } as const;
const hasPython = isLinux && spawnSync('python3', ['-c', 'pass']).status === 0;
const INTEROP_SKIP = !isLinux ? 'abstract names are Linux-only' : !abstractWorks ? `libuv ${process.versions.uv} pads abstract names: refused here (tested below)` : !hasPython && 'python3 is not installed';

/** A Python peer: `server NAME` answers one client with "py:" + what it sent; `client NAME` sends "hello" and prints the reply. */
const PEER = `
import socket, sys
mode, name = sys.argv[1], sys.argv[2]
def drain(c):
    data = b''
    while True:
        chunk = c.recv(65536)
        if not chunk:
            return data
        data += chunk
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if mode == 'server':
    s.bind('\\0' + name)
    s.listen(1)
    print('ready', flush=True)
    c, _ = s.accept()
    c.sendall(b'py:' + drain(c))
    c.close()
else:
    s.connect('\\0' + name)
    s.sendall(b'hello')
    s.shutdown(socket.SHUT_WR)
    print(drain(s).decode(), flush=True)
`;

async function readToEnd(socket: LocalSocket): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk);
  return Buffer.concat(chunks).toString();
}

describe('abstract names with a Python peer', () => {
  test('a localsocket client reaches a Python server bound to "\\0name"', { skip: INTEROP_SKIP }, async () => {
    const name = uniqueName('abs-py');
    const peer = spawn('python3', ['-c', PEER, 'server', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    const peerDone = finished(peer);
    try {
      await waitForLine(peer, /^ready$/);
      const socket = await connect(name, { ...RAW_CLIENT, timeout: 5000 });
      await socket.write('hello');
      await socket.end();
      assert.equal(await readToEnd(socket), 'py:hello');
      assert.equal((await peerDone).code, 0);
    } finally {
      peer.kill();
    }
  });

  test('a Python client reaches a localsocket server listening on an abstract name', { skip: INTEROP_SKIP }, async () => {
    const name = uniqueName('abs-node');
    const server = await listen(name, { ...RAW, allowHalfOpen: true });
    server.on('newConnection', () => {
      for (let s = server.nextPendingConnection(); s; s = server.nextPendingConnection()) {
        const socket = s;
        socket.on('error', () => {});
        void readToEnd(socket).then((data) => socket.write(`node:${data}`).then(() => socket.end()));
      }
    });
    try {
      const peer = spawn('python3', ['-c', PEER, 'client', name], { stdio: ['ignore', 'pipe', 'pipe'] });
      const result = await finished(peer);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), 'node:hello');
    } finally {
      await server.close();
    }
  });
});

describe('abstract names from the CLI with a Python peer', () => {
  const main = path.join(distDir, 'cjs', 'cli', 'main.js');

  test('check --abstract finds a Python server, and connect --abstract --raw talks to it', { skip: INTEROP_SKIP }, async () => {
    const name = uniqueName('abs-cli');
    const peer = spawn('python3', ['-c', PEER, 'server', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    const peerDone = finished(peer);
    try {
      await waitForLine(peer, /^ready$/);
      const check = await finished(spawn(process.execPath, [main, 'check', name, '--abstract'], { stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.match(check.stdout, new RegExp(`endpoint: +@${name}\n`));
      // The Python server reads until end of stream before it says anything: check sees a
      // server that accepted but stayed silent through the handshake (not proof of raw mode).
      assert.match(check.stdout, /server: +a server accepted the connection but did not answer the handshake/);
      // check's probe was the Python server's one connection (it hangs up before the
      // reply, so the peer may exit with EPIPE): wait for it, then start another for connect.
      await peerDone;
    } finally {
      peer.kill();
    }
    const second = spawn('python3', ['-c', PEER, 'server', name], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      await waitForLine(second, /^ready$/);
      const cli = spawn(process.execPath, [main, 'connect', name, '--abstract', '--raw'], { stdio: ['pipe', 'pipe', 'pipe'] });
      cli.stdin!.end('hello');
      const result = await finished(cli);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, 'py:hello');
    } finally {
      second.kill();
    }
  });
});

describe('abstract names where libuv pads them', { skip: !isLinux && 'abstract names are Linux-only' }, () => {
  test('libuv 1.48 and later bind exact-length names; earlier ones pad', () => {
    assert.equal(libuvBindsExactLength('1.46.0'), false);
    assert.equal(libuvBindsExactLength('1.47.9'), false);
    assert.equal(libuvBindsExactLength('1.48.0'), true);
    assert.equal(libuvBindsExactLength('1.51.0'), true);
    assert.equal(libuvBindsExactLength('2.0.0'), true);
  });

  test('resolveName refuses abstract names for a padding libuv, naming the Node version needed', () => {
    const platform = { ...currentPlatform(), platform: 'linux' as const };
    assert.throws(() => resolveName('x', { abstract: true }, { ...platform, libuvVersion: '1.46.0' }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'UNSUPPORTED');
      assert.match(err.message, /Node\.js 22/);
      return true;
    });
    assert.equal(resolveName('x', { abstract: true }, { ...platform, libuvVersion: '1.48.0' }).address, '\0x');
  });

  const refusedHere = abstractWorks ? `libuv ${process.versions.uv} binds exact-length names: the interop tests above run instead` : false;

  test('listen and connect with abstract: true are UNSUPPORTED on this runtime', { skip: refusedHere }, async () => {
    await assert.rejects(listen(uniqueName(), RAW), { code: 'UNSUPPORTED', message: /Node\.js 22/ });
    await assert.rejects(connect(uniqueName(), { ...RAW_CLIENT, timeout: 1000 }), { code: 'UNSUPPORTED', message: /Node\.js 22/ });
  });

  test('the CLI refuses --abstract on this runtime (listen, connect, check, path)', { skip: refusedHere }, async () => {
    const main = path.join(distDir, 'cjs', 'cli', 'main.js');
    for (const args of [['listen', 'x', '--abstract', '--raw', '--access', 'world'], ['connect', 'x', '--abstract'], ['check', 'x', '--abstract'], ['path', 'x', '--abstract']]) {
      const result = await finished(spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
      assert.equal(result.code, 1, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /^localsocket: UNSUPPORTED: .*Node\.js 22/, args.join(' '));
    }
  });
});
