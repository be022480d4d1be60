/**
 * Secure by default: per-user key, mutual handshake, squatting detection,
 * file-system access as a first wall, raw mode, hostile peers.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect, listen, LocalSocketError, type LocalServer } from '../src/index.js';
import { defaultKeyPath, ensureKeyFile, readKeyFile } from '../src/auth/key.js';
import { CLIENT_HELLO_SIZE, SERVER_PROOF_SIZE, RAW_SERVER_HINT, SILENT_SERVER, clientHello, clientProof, serverProof } from '../src/auth/handshake.js';
import { currentPlatform } from '../src/endpoint/platform.js';
import { ABSTRACT_SKIP, finished, sharedTempDir, fullName, waitFor, isWindows, isWine, runFixture, secondUserSkip, tempDir, uniqueName, unprivilegedUser } from './helpers.js';

const KEY = Buffer.alloc(32, 7);
const OTHER_KEY = Buffer.alloc(32, 9);

function echo(server: LocalServer): void {
  void (async () => {
    for await (const socket of server) {
      socket.on('readyRead', () => void socket.write(socket.readAll()).catch(() => {}));
    }
  })();
}

function codeOf(err: unknown): string | undefined {
  return err instanceof LocalSocketError ? err.code : undefined;
}

/** A raw net client that records everything the server sends until it closes. */
function rawPeer(address: string, send?: Buffer): Promise<{ received: Buffer; closedAfterMs: number }> {
  return new Promise((resolve) => {
    const started = Date.now();
    const chunks: Buffer[] = [];
    const socket = net.connect(address);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('connect', () => {
      if (send) socket.write(send);
    });
    socket.on('close', () => resolve({ received: Buffer.concat(chunks), closedAfterMs: Date.now() - started }));
  });
}

describe('per-user key file', () => {
  let dir: string;
  before(() => {
    dir = tempDir('lskey-');
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('is created on first use, owner-only (Unix modes; Windows has ACLs), 32 random bytes, and reused', () => {
    const file = path.join(dir, 'fresh', 'key');
    const key = ensureKeyFile(file, currentPlatform());
    assert.equal(key.length, 32);
    if (!isWindows) {
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
      assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    }
    assert.deepEqual(ensureKeyFile(file, currentPlatform()), key);
    assert.notDeepEqual(ensureKeyFile(path.join(dir, 'other', 'key'), currentPlatform()), key);
  });

  test('default location follows XDG_CONFIG_HOME, and %LOCALAPPDATA% on Windows', () => {
    const p = { ...currentPlatform(), platform: 'linux' as const, env: { XDG_CONFIG_HOME: '/cfg' } };
    assert.equal(defaultKeyPath(p), '/cfg/localsocket/key');
    const w = { ...currentPlatform(), platform: 'win32' as const, env: { LOCALAPPDATA: 'C:\\Users\\a\\AppData\\Local' } };
    assert.equal(defaultKeyPath(w), 'C:\\Users\\a\\AppData\\Local\\localsocket\\key');
  });

  test('the default key is created under XDG_CONFIG_HOME (%LOCALAPPDATA% on Windows) when a server starts', async () => {
    const variable = isWindows ? 'LOCALAPPDATA' : 'XDG_CONFIG_HOME';
    const saved = process.env[variable];
    process.env[variable] = path.join(dir, 'xdg');
    try {
      const server = await listen(uniqueName('xdg'));
      const client = await connect(server.serverName!);
      client.abort();
      await server.close();
      const st = fs.statSync(path.join(dir, 'xdg', 'localsocket', 'key'));
      assert.ok(st.isFile());
      if (!isWindows) assert.equal(st.mode & 0o777, 0o600);
    } finally {
      if (saved === undefined) delete process.env[variable];
      else process.env[variable] = saved;
    }
  });

  test('processes racing to create it all end up with the same key', async () => {
    const file = path.join(dir, 'race', 'key');
    const children = Array.from({ length: 4 }, () => runFixture('auth-keygen.js', [file]));
    const results = await Promise.all(children.map((c) => finished(c)));
    const keys = new Set(results.map((r) => r.stdout.trim()));
    assert.equal(keys.size, 1, `keys: ${[...keys].join(',')}`);
    assert.match([...keys][0]!, /^[0-9a-f]{64}$/);
  });

  for (const [label, mode] of [
    ['readable by others', 0o644],
    ['readable by the group', 0o640],
    ['writable by the group', 0o620],
  ] as const) {
    test(`a key file ${label} is refused with ACCESS_DENIED`, { skip: isWindows && 'Unix file modes (Windows: the ACL decides, which Node cannot read)' }, () => {
      const file = path.join(dir, `loose-${mode.toString(8)}`);
      fs.writeFileSync(file, `${KEY.toString('hex')}\n`, { mode: 0o600 });
      fs.chmodSync(file, mode);
      assert.throws(() => readKeyFile(file, currentPlatform()), (err) => codeOf(err) === 'ACCESS_DENIED');
    });
  }

  test('a symlinked key file is refused', (t) => {
    const real = path.join(dir, 'real-key');
    fs.writeFileSync(real, `${KEY.toString('hex')}\n`, { mode: 0o600 });
    const link = path.join(dir, 'link-key');
    try {
      fs.symlinkSync(real, link);
      fs.lstatSync(link);
    } catch (err) {
      // Windows needs a privilege (or developer mode) to create one. Wine reports success and creates nothing.
      if (!isWindows) throw err;
      t.skip(isWine ? 'Wine divergence: fs.symlinkSync reports success but creates no link' : `cannot create a symbolic link here (${(err as NodeJS.ErrnoException).code})`);
      return;
    }
    assert.throws(() => readKeyFile(link, currentPlatform()), (err) => codeOf(err) === 'ACCESS_DENIED');
  });

  test('a key file owned by another user is refused', { skip: !unprivilegedUser() && (isWindows ? 'file owners: Wine runs everything as one user' : secondUserSkip()) }, () => {
    const peer = unprivilegedUser()!;
    const file = path.join(dir, 'foreign-key');
    fs.writeFileSync(file, `${KEY.toString('hex')}\n`, { mode: 0o600 });
    fs.chownSync(file, peer.uid, peer.gid);
    assert.throws(() => readKeyFile(file, currentPlatform()), (err) => codeOf(err) === 'ACCESS_DENIED');
  });

  test('a malformed key, a missing key file and a short in-memory key are refused', async () => {
    const bad = path.join(dir, 'bad-key');
    fs.writeFileSync(bad, 'not hex at all\n', { mode: 0o600 });
    assert.throws(() => readKeyFile(bad, currentPlatform()), (err) => codeOf(err) === 'ACCESS_DENIED');
    await assert.rejects(listen(uniqueName(), { keyFile: path.join(dir, 'missing') }), (err) => codeOf(err) === 'INVALID_ARGUMENT');
    await assert.rejects(listen(uniqueName(), { key: Buffer.alloc(8) }), (err) => codeOf(err) === 'INVALID_ARGUMENT');
    await assert.rejects(connect(uniqueName(), { key: 'secret' as unknown as Uint8Array }), (err) => codeOf(err) === 'INVALID_ARGUMENT');
  });

  test('a named key file works on both sides', async () => {
    const file = path.join(dir, 'named-key');
    fs.writeFileSync(file, `${OTHER_KEY.toString('hex')}\n`, { mode: 0o600 });
    const server = await listen(uniqueName(), { keyFile: file });
    echo(server);
    const client = await connect(server.serverName!, { key: OTHER_KEY });
    await client.write('hi');
    if (client.bytesAvailable === 0) await client.waitForReadyRead({ timeout: 2000 });
    assert.equal(client.readAll().toString(), 'hi');
    client.abort();
    await server.close();
  });
});

/** Connects with net, sends `first`, collects what the server sends until `stopAfterMs` or its close. */
function exchange(address: string, first: Buffer | null, stopAfterMs = 400): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(address);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    };
    const timer = setTimeout(done, stopAfterMs);
    socket.on('data', (c) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('connect', () => {
      if (first) socket.write(first);
    });
    socket.on('close', done);
  });
}

describe('mutual handshake (version 2)', () => {
  test('a client with the wrong key fails AUTH_FAILED (key mismatch) before sending its proof; the server never queues it', async () => {
    const server = await listen(uniqueName(), { key: KEY });
    const refused: string[] = [];
    server.on('refused', (e) => refused.push(e.code));
    await assert.rejects(connect(server.serverName!, { key: OTHER_KEY, timeout: 3000 }), (err) => codeOf(err) === 'AUTH_FAILED' && /key mismatch/.test((err as Error).message));
    await waitFor(() => refused.length > 0, 2000, 'the refusal to be reported');
    // The client left after checking our proof: the server reports that, and no proof ever failed on its side.
    assert.deepEqual(refused, ['PEER_CLOSED']);
    assert.equal(server.hasPendingConnections(), false);
    await server.close();
  });

  test('a silent peer and a peer that only reads receive nothing at all; garbage receives nothing and is dropped', async () => {
    const server = await listen(uniqueName(), { key: KEY, handshakeTimeout: 2000 });
    const silent = await exchange(server.fullServerName!, null, 300);
    assert.equal(silent.length, 0, 'nothing is sent before the client speaks');
    const garbage = await exchange(server.fullServerName!, Buffer.alloc(CLIENT_HELLO_SIZE, 0x41), 1000);
    assert.equal(garbage.length, 0);
    await server.close();
  });

  test('a hello earns exactly the 72-byte server proof and nothing more until the client proves the key', async () => {
    const server = await listen(uniqueName(), { key: KEY, handshakeTimeout: 500 });
    echo(server);
    const nonce = Buffer.alloc(32, 4);
    const reply = await exchange(server.fullServerName!, clientHello(nonce), 1000);
    assert.equal(reply.length, SERVER_PROOF_SIZE);
    assert.equal(reply.subarray(0, 8).toString('latin1'), 'LSS2\0\0\0\0');
    assert.deepEqual(reply, serverProof(KEY, nonce, reply.subarray(8, 40)), 'the proof is the documented HMAC');
    await server.close();
  });

  test('each connection gets a fresh server nonce; a proof for an old nonce, or a reflected server proof, is refused AUTH_FAILED', async () => {
    const server = await listen(uniqueName(), { key: KEY });
    const refused: string[] = [];
    server.on('refused', (e) => refused.push(e.code));
    const nonce = Buffer.alloc(32, 3);
    const nonces = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const reply = await exchange(server.fullServerName!, clientHello(nonce), 1000);
      nonces.add(reply.subarray(8, 40).toString('hex'));
    }
    assert.equal(nonces.size, 5);
    // Replay: the proof for an earlier server nonce, on a new connection with the same client nonce.
    const oldNonce = Buffer.from([...nonces][0]!, 'hex');
    const replayed = clientProof(KEY, nonce, oldNonce);
    const peer = net.connect(server.fullServerName!);
    peer.on('error', () => {});
    const got: Buffer[] = [];
    peer.on('data', (d) => {
      got.push(d);
      if (got.length === 1) {
        // Reflection on the first connection, replay here: neither is a valid client proof.
        peer.write(Buffer.concat([replayed, Buffer.from('application data')]));
      }
    });
    peer.write(clientHello(nonce));
    await new Promise<void>((r) => peer.once('close', () => r()));
    const reflect = net.connect(server.fullServerName!);
    reflect.on('error', () => {});
    reflect.once('data', (d) => reflect.write(Buffer.concat([Buffer.from('LSP2\0\0\0\0', 'latin1'), d.subarray(40, 72)])));
    reflect.write(clientHello(nonce));
    await new Promise<void>((r) => reflect.once('close', () => r()));
    await waitFor(() => refused.filter((c) => c === 'AUTH_FAILED').length === 2, 2000, 'two proofs refused');
    assert.equal(server.hasPendingConnections(), false);
    await server.close();
  });

  test('a server that stays silent is a TIMEOUT within the handshake timeout, without the raw-mode hint (silence is no evidence of raw mode)', async () => {
    const dir = tempDir();
    const address = fullName(dir, 'mute');
    const mute = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => mute.listen(address, r));
    const started = Date.now();
    await assert.rejects(
      connect(address, { key: KEY, handshakeTimeout: 300, timeout: 10_000 }),
      (err) => codeOf(err) === 'TIMEOUT' && (err as Error).message.includes(SILENT_SERVER) && !(err as Error).message.includes(RAW_SERVER_HINT),
    );
    assert.ok(Date.now() - started < 3000);
    mute.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a raw-mode server that echoes is detected at once (PROTOCOL_ERROR naming raw mode)', async () => {
    const dir = tempDir();
    const address = fullName(dir, 'echo');
    const echoing = net.createServer((s) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    await new Promise<void>((r) => echoing.listen(address, r));
    const started = Date.now();
    await assert.rejects(connect(address, { key: KEY, handshakeTimeout: 5000, timeout: 10_000 }), (err) => codeOf(err) === 'PROTOCOL_ERROR' && (err as Error).message.includes('raw mode'));
    assert.ok(Date.now() - started < 2000, 'not a timeout');
    echoing.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a key mismatch names the key file the client used, and says when it was just created', async () => {
    const dir = tempDir();
    const server = await listen(uniqueName(), { key: KEY });
    try {
      const keyFile = path.join(dir, 'client-key');
      fs.writeFileSync(keyFile, `${OTHER_KEY.toString('hex')}\n`, { mode: 0o600 });
      await assert.rejects(connect(server.serverName!, { keyFile, timeout: 3000 }), (err) => codeOf(err) === 'AUTH_FAILED' && (err as Error).message.includes(keyFile) && !(err as Error).message.includes(OTHER_KEY.toString('hex')));
      // A default key created by this very connect (a fresh XDG_CONFIG_HOME, %LOCALAPPDATA% on Windows): the message says so.
      const env = isWindows ? { LOCALAPPDATA: path.join(dir, 'config') } : { XDG_CONFIG_HOME: path.join(dir, 'config') };
      // Windows: the pipe record lives under %LOCALAPPDATA% too, so the child (another one) is given the full pipe name.
      const result = await finished(runFixture('auth-default-key-connect.js', [isWindows ? server.fullServerName! : server.serverName!], { env }));
      assert.match(result.stdout, /AUTH_FAILED/);
      assert.match(result.stdout, /just created/);
      const expected = defaultKeyPath({ ...currentPlatform(), env: { ...process.env, ...env } });
      assert.ok(result.stdout.includes(expected), result.stdout);
    } finally {
      await server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('squatting', () => {
  test('an impostor holding the name first receives only the random 40-byte hello, and the client fails AUTH_FAILED', async () => {
    const dir = tempDir();
    const address = fullName(dir, 'squatted');
    const received: Buffer[] = [];
    const impostor = net.createServer((s) => {
      s.on('error', () => {});
      // Looks like a localsocket server, but cannot prove the key: answers with a made-up proof.
      s.once('data', (d) => {
        received.push(d);
        s.on('data', (more) => received.push(more));
        s.write(Buffer.concat([Buffer.from('LSS2\0\0\0\0', 'latin1'), Buffer.alloc(64, 2)]));
      });
    });
    await new Promise<void>((r) => impostor.listen(address, r));
    let sent = false;
    await assert.rejects(
      connect(address, { key: KEY, timeout: 3000 }).then(async (s) => {
        sent = true;
        await s.write('secret application data');
      }),
      (err) => codeOf(err) === 'AUTH_FAILED',
    );
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(sent, false);
    const all = Buffer.concat(received);
    assert.equal(all.length, CLIENT_HELLO_SIZE, 'only the client hello reaches the impostor');
    assert.equal(all.subarray(0, 8).toString('latin1'), 'LSC2\0\0\0\0');
    assert.equal(all.includes(Buffer.from('secret')), false);
    // And a real localsocket server cannot take over a live impostor's name.
    await assert.rejects(listen(address, { key: KEY }), (err) => codeOf(err) === 'ADDRESS_IN_USE');
    impostor.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an impostor that is a localsocket server with another key is detected too', async () => {
    const server = await listen(uniqueName(), { key: OTHER_KEY });
    await assert.rejects(connect(server.serverName!, { key: KEY, timeout: 3000 }), (err) => codeOf(err) === 'AUTH_FAILED');
    await server.close();
  });
});

const noSecondUser = isWindows ? 'another Windows user and pipe ACLs: Wine runs everything as one user' : secondUserSkip();
describe('file-system access, with a second, unprivileged user', { skip: !unprivilegedUser() && noSecondUser }, () => {
  test("the other user cannot connect to a default server, can connect to an access: 'world' server with the key, and fails AUTH_FAILED with a wrong key", async () => {
    const peer = unprivilegedUser()!;
    const dir = sharedTempDir();
    const keyFile = path.join(dir, 'peer-key');
    fs.writeFileSync(keyFile, `${KEY.toString('hex')}\n`, { mode: 0o600 });
    fs.chownSync(keyFile, peer.uid, peer.gid);
    const wrongKeyFile = path.join(dir, 'peer-wrong-key');
    fs.writeFileSync(wrongKeyFile, `${OTHER_KEY.toString('hex')}\n`, { mode: 0o600 });
    fs.chownSync(wrongKeyFile, peer.uid, peer.gid);

    const servers: LocalServer[] = [];
    try {
      const privateServer = await listen(path.join(dir, 'private'), { key: KEY });
      servers.push(privateServer);
      const shortServer = await listen(uniqueName('short'), { key: KEY });
      servers.push(shortServer);
      const worldServer = await listen(path.join(dir, 'world'), { key: KEY, access: 'world' });
      servers.push(worldServer);
      echo(privateServer);
      echo(shortServer);
      echo(worldServer);
      const run = async (address: string, mode: string, file = keyFile): Promise<{ ok: boolean; code?: string; reply?: string }> => {
        const { stdout } = await finished(runFixture('auth-peer.js', [address, mode, file], { asUser: peer }));
        return JSON.parse(stdout.trim().split('\n').pop()!);
      };
      assert.deepEqual(await run(privateServer.fullServerName!, 'keyfile'), { ok: false, code: 'ACCESS_DENIED', message: 'connect: access denied' });
      const viaShort = await run(shortServer.fullServerName!, 'keyfile');
      assert.equal(viaShort.ok, false);
      assert.equal(viaShort.code, 'ACCESS_DENIED');
      assert.deepEqual(await run(worldServer.fullServerName!, 'keyfile'), { ok: true, reply: 'ping\n' });
      assert.equal((await run(worldServer.fullServerName!, 'keyfile', wrongKeyFile)).code, 'AUTH_FAILED');
    } finally {
      // A failed assertion must not leave servers holding the test file's event loop open.
      await Promise.all(servers.map((server) => server.close()));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('raw mode', () => {
  test('auth: false talks to a plain net peer byte for byte', async () => {
    const dir = tempDir();
    const address = fullName(dir, 'plain');
    const plain = net.createServer((s) => s.pipe(s));
    await new Promise<void>((r) => plain.listen(address, r));
    const client = await connect(address, { auth: false });
    await client.write('plain bytes');
    if (client.bytesAvailable === 0) await client.waitForReadyRead({ timeout: 2000 });
    assert.equal(client.readAll().toString(), 'plain bytes');
    client.abort();
    plain.close();

    const server = await listen(fullName(dir, 'raw-server'), { auth: false });
    const first = await new Promise<Buffer>((resolve) => {
      const s = net.connect(server.fullServerName!, () => s.write('hello raw'));
      void server.waitForNewConnection({ timeout: 2000 }).then(async (peer) => {
        if (peer.bytesAvailable === 0) await peer.waitForReadyRead({ timeout: 2000 });
        resolve(peer.readAll());
        peer.abort();
        s.destroy();
      });
    });
    assert.equal(first.toString(), 'hello raw');
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('an authenticating client and a raw server do not silently connect', async () => {
    const server = await listen(uniqueName(), { auth: false });
    await assert.rejects(connect(server.serverName!, { key: KEY, handshakeTimeout: 300 }), (err) => codeOf(err) === (isWindows ? 'SERVER_NOT_FOUND' : 'TIMEOUT'));
    // Windows: a short name with auth is a published random pipe, never the raw server's plain pipe; the full name reaches it.
    if (isWindows) await assert.rejects(connect(server.fullServerName!, { key: KEY, handshakeTimeout: 300 }), (err) => codeOf(err) === 'TIMEOUT');
    await server.close();
  });

  test('an abstract name without auth must be opened to the world explicitly', { skip: ABSTRACT_SKIP }, async () => {
    await assert.rejects(listen(uniqueName(), { abstract: true, auth: false }), (err) => codeOf(err) === 'INVALID_ARGUMENT');
    const open = await listen(uniqueName(), { abstract: true, auth: false, access: 'world' });
    await open.close();
  });
});

describe('slow and hostile peers', () => {
  test('silent, partial and garbage peers are dropped within the handshake timeout', async () => {
    const server = await listen(uniqueName(), { key: KEY, handshakeTimeout: 300 });
    const partial = Buffer.concat([Buffer.from('LSC2\0\0\0\0', 'latin1'), Buffer.alloc(10)]);
    const results = await Promise.all([
      rawPeer(server.fullServerName!),
      rawPeer(server.fullServerName!, partial),
      rawPeer(server.fullServerName!, Buffer.from('GET / HTTP/1.1\r\n\r\n')),
    ]);
    for (const r of results) assert.ok(r.closedAfterMs < 2000, `dropped after ${r.closedAfterMs} ms`);
    assert.ok(results[0]!.closedAfterMs >= 250, 'a silent peer is kept until its deadline, not cut early');
    await server.close();
  });

  // Under Wine each pipe open costs tens of milliseconds of Wine's own server (1,000 took 72 s of
  // the Windows suite's 9 minutes), so there it is 200: still three times the bound of 64 checked
  // below. The 1,000 run everywhere else.
  const STALLED = isWine ? 200 : 1000;
  test(`${STALLED.toLocaleString('en-US')} stalled connections at once do not stop an honest client from connecting`, async () => {
    const server = await listen(uniqueName(), { key: KEY, handshakeTimeout: 20_000 });
    echo(server);
    const hostile: net.Socket[] = [];
    await Promise.all(
      Array.from({ length: STALLED }, () =>
        new Promise<void>((resolve) => {
          const s = net.connect(server.fullServerName!, () => resolve());
          s.on('error', () => resolve());
          hostile.push(s);
        }),
      ),
    );
    const client = await connect(server.serverName!, { key: KEY, timeout: 5000 });
    await client.write('still served');
    if (client.bytesAvailable === 0) await client.waitForReadyRead({ timeout: 5000 });
    assert.equal(client.readAll().toString(), 'still served');
    assert.ok(server.connectionCount <= 64 + 1, `unauthenticated peers are bounded: ${server.connectionCount}`);
    client.abort();
    for (const s of hostile) s.destroy();
    await server.close();
  });
});
