/**
 * The JSON message rules: answers keep negative ids, the nesting limit is
 * held on receive and on send, invalid UTF-8 is refused, the CLI printer
 * survives deep input, and the key-size limit applies to the key.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { readKeyFile } from '../src/auth/key.js';
import { connect, LocalSocketError } from '../src/index.js';
import { MessageSocket } from '../src/messages/message-socket.js';
import { MAX_JSON_DEPTH, bytesTooDeep, textTooDeep } from '../src/messages/json-depth.js';
import { currentPlatform } from '../src/endpoint/platform.js';
import { lines, makeHome, startMessageServer, stop, until } from './cli-helpers.js';
import { pair, rejectsWith } from './connection-helpers.js';
import { isWindows, tempDir } from './helpers.js';

const nested = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

function frame(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header[0] = type;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** Reads one whole frame from a raw LocalSocket; returns its JSON. */
async function readFrame(socket: import('../src/index.js').LocalSocket): Promise<unknown> {
  for (;;) {
    if (socket.bytesAvailable >= 5) {
      const header = socket.peek(5);
      const length = header.readUInt32BE(1);
      if (socket.bytesAvailable >= 5 + length) {
        socket.read(5);
        return JSON.parse(socket.read(length).toString());
      }
    }
    await socket.waitForReadyRead({ timeout: 10_000 });
  }
}

describe('answers keep their id', () => {
  test('a request with a negative id (or -0 or a large one) is answered with that id, result and error alike', async () => {
    const p = await pair();
    try {
      const server = new MessageSocket(p.peer);
      server.handle('echo', (params) => params);
      server.handle('fail', () => {
        throw new Error('no');
      });
      for (const [id, method] of [[-5, 'echo'], [-Number.MAX_SAFE_INTEGER, 'echo'], [-7, 'fail'], [-3, 'missing']] as const) {
        await p.client.write(frame(0x4a, Buffer.from(JSON.stringify({ jsonrpc: '2.0', id, method, params: { id } }))));
        const answer = (await readFrame(p.client)) as { id: number; result?: unknown; error?: { code: number } };
        assert.equal(answer.id, id, JSON.stringify(answer));
        if (method === 'echo') assert.deepEqual(answer.result, { id });
        else assert.ok(answer.error !== undefined, JSON.stringify(answer));
      }
    } finally {
      await p.close();
    }
  });
});

describe('the end of the stream', () => {
  test('inside a frame it is PROTOCOL_ERROR; at a frame boundary it is a clean PEER_CLOSED', async () => {
    for (const [tail, expected] of [[Buffer.alloc(0), 'PEER_CLOSED'], [Buffer.from([0x4a, 0, 0]), 'PROTOCOL_ERROR'], [Buffer.from('4a000000057b22', 'hex'), 'PROTOCOL_ERROR']] as const) {
      const p = await pair();
      try {
        const server = new MessageSocket(p.peer);
        server.on('error', () => {});
        const closed = new Promise<unknown>((resolve) => server.once('close', resolve));
        await p.client.write(Buffer.concat([frame(0x4a, Buffer.from('{"n":1}')), tail]));
        await p.client.end();
        const reason = await closed;
        assert.ok(reason instanceof LocalSocketError, String(reason));
        assert.equal(reason.code, expected, `${tail.toString('hex')}: ${reason.message}`);
      } finally {
        await p.close();
      }
    }
  });
});

describe('the nesting limit', () => {
  test('the scan counts brackets outside strings only, escapes included, and allows exactly the limit', () => {
    assert.equal(MAX_JSON_DEPTH, 128);
    assert.equal(textTooDeep(nested(128)), false);
    assert.equal(textTooDeep(nested(129)), true);
    assert.equal(bytesTooDeep(Buffer.from(nested(129)), 0, 258), true);
    assert.equal(bytesTooDeep(Buffer.from(`["${'['.repeat(300)}"]`), 0, 305), false);
    assert.equal(textTooDeep(`["\\"${'['.repeat(300)}"]`), false, 'an escaped quote does not end the string');
    assert.equal(textTooDeep(`{"a":${nested(127)}}`), false);
    assert.equal(textTooDeep(`{"a":${nested(128)}}`), true);
    // Many shallow values in a row are not deep.
    assert.equal(textTooDeep(`[${Array(1000).fill('[[1]]').join(',')}]`), false);
  });

  test('receiving a message nested deeper than 128 fails the connection with PROTOCOL_ERROR; 128 is delivered', async () => {
    const p = await pair();
    try {
      const server = new MessageSocket(p.peer);
      server.on('error', () => {});
      const messages: unknown[] = [];
      server.on('message', (m) => messages.push(m));
      const closed = new Promise<unknown>((resolve) => server.once('close', resolve));
      await p.client.write(frame(0x4a, Buffer.from(nested(128))));
      // 10,000 deep and 20 KB: refused before any parser or printer sees it.
      await p.client.write(frame(0x4a, Buffer.from(nested(10_000))));
      const reason = await closed;
      assert.ok(reason instanceof LocalSocketError && reason.code === 'PROTOCOL_ERROR', String(reason));
      assert.match(reason.message, /deeper than 128/);
      assert.equal(messages.length, 1);
      assert.equal(textTooDeep(JSON.stringify(messages[0])), false);
    } finally {
      await p.close();
    }
  });

  test('a JSON message that is not valid UTF-8 fails the connection with PROTOCOL_ERROR', async () => {
    const p = await pair();
    try {
      const server = new MessageSocket(p.peer);
      server.on('error', () => {});
      const closed = new Promise<unknown>((resolve) => server.once('close', resolve));
      await p.client.write(frame(0x4a, Buffer.from([0x22, 0xff, 0xfe, 0x22])));
      const reason = await closed;
      assert.ok(reason instanceof LocalSocketError && reason.code === 'PROTOCOL_ERROR', String(reason));
      assert.match(reason.message, /UTF-8/);
    } finally {
      await p.close();
    }
  });

  test('Node never sends what a peer must refuse: send, request, notify reject; a too deep result is answered -32603', async () => {
    const p = await pair();
    try {
      const a = new MessageSocket(p.client);
      const b = new MessageSocket(p.peer);
      b.handle('deep', (n) => JSON.parse(nested(n as number)) as unknown);
      await rejectsWith(a.send(JSON.parse(nested(129)) as unknown), 'INVALID_ARGUMENT', 'send 129');
      await rejectsWith(a.send(JSON.parse(nested(20_000)) as unknown), 'INVALID_ARGUMENT', 'send 20000');
      // Params sit inside the envelope: 127 levels is their limit.
      await rejectsWith(a.request('deep', JSON.parse(nested(128)) as unknown), 'INVALID_ARGUMENT', 'request params 128');
      await rejectsWith(a.notify('n', JSON.parse(nested(128)) as unknown), 'INVALID_ARGUMENT', 'notify params 128');
      assert.equal(textTooDeep(JSON.stringify(await a.request('deep', 127))), false);
      const err = await rejectsWith(a.request('deep', 128), 'REMOTE_ERROR', 'result 128');
      assert.equal(err.remote?.code, -32603);
      // The connection is still usable: nothing too deep was sent.
      await a.send(JSON.parse(nested(128)) as unknown);
      assert.deepEqual(await a.request('deep', 1), []);
    } finally {
      await p.close();
    }
  });

  test('localsocket listen --messages survives a 10,000-deep message and keeps serving', { skip: isWindows && 'a socket path in a temp dir is Unix-only' }, async () => {
    const home = makeHome();
    const name = path.join(home.dir, 'deep.sock');
    const cli = await startMessageServer(home, name);
    try {
      const deep = await connect(name, { keyFile: home.keyFile, timeout: 10_000 });
      const ok = await connect(name, { keyFile: home.keyFile, timeout: 10_000 });
      await deep.write(frame(0x4a, Buffer.from(nested(10_000))));
      await until(cli.stderr, /dropped peer \d+: PROTOCOL_ERROR: .*deeper than 128/, 'the deep peer is dropped');
      const m = new MessageSocket(ok);
      await m.send({ still: 'serving' });
      await until(cli.stdout, /"still":"serving"/, 'the next message is printed');
      assert.equal(cli.child.exitCode, null, 'the CLI is still running');
      assert.doesNotMatch(cli.stderr(), /RangeError|stack/i);
      assert.ok(lines(cli).some((l) => (l.value as { still?: string } | undefined)?.still === 'serving'));
      deep.abort();
      m.abort();
    } finally {
      await stop(cli);
      home.remove();
    }
  });
});

describe('the key-size limit applies to the key, after the whitespace and BOM rule', () => {
  test('a 1,024-byte key with a BOM and surrounding whitespace is read; a 1,025-byte key is refused', () => {
    const dir = tempDir('lskeysize-');
    try {
      const write = (name: string, bytes: Buffer | string): string => {
        const file = path.join(dir, name);
        fs.writeFileSync(file, bytes, { mode: 0o600 });
        return file;
      };
      const p = currentPlatform();
      const max = write('max', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`\n  ${'5a'.repeat(1024)} \r\n\t`)]));
      assert.equal(readKeyFile(max, p).length, 1024);
      const over = write('over', `${'5a'.repeat(1025)}`);
      assert.throws(() => readKeyFile(over, p), (e: unknown) => e instanceof LocalSocketError && e.code === 'ACCESS_DENIED' && /16 to 1024 bytes/.test(e.message));
      // Only ASCII whitespace is ignored (not, say, a no-break space, which String.prototype.trim would remove).
      const nbsp = write('nbsp', `\u00a0${'5a'.repeat(32)}`);
      assert.throws(() => readKeyFile(nbsp, p), (e: unknown) => e instanceof LocalSocketError && e.code === 'ACCESS_DENIED');
      // A BOM anywhere but first is not skipped.
      const late = write('late-bom', Buffer.concat([Buffer.from(' '), Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('5a'.repeat(32))]));
      assert.throws(() => readKeyFile(late, p), (e: unknown) => e instanceof LocalSocketError && e.code === 'ACCESS_DENIED');
      // A file over 8 KiB is refused unread, whatever it holds.
      const big = write('big', `${'5a'.repeat(32)}${' '.repeat(8192)}`);
      assert.throws(() => readKeyFile(big, p), (e: unknown) => e instanceof LocalSocketError && e.code === 'ACCESS_DENIED' && /too large/.test(e.message));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
