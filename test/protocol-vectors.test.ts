/**
 * docs/PROTOCOL.md and docs/test-vectors.json against the Node implementation:
 * the handshake proofs (HMAC-SHA256 as node:crypto computes it), the frames,
 * and the hex blocks of the page, which must equal the JSON file byte for byte.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BUSY_MESSAGE, clientHello, clientProof, serverProof, verifyClientProof, parseClientHello } from '../src/auth/handshake.js';
import { readKeyFile } from '../src/auth/key.js';
import { LocalSocketError } from '../src/errors.js';
import { isUtf8 } from 'node:buffer';
import { parseKeyFile } from '../src/auth/key.js';
import { encodeFrameHeader, FrameDecoder, FrameType } from '../src/messages/frame.js';
import { bytesTooDeep } from '../src/messages/json-depth.js';
import { MessageSocket } from '../src/messages/message-socket.js';
import { pair } from './connection-helpers.js';
import { currentPlatform } from '../src/endpoint/platform.js';
import { distDir, tempDir } from './helpers.js';

const ROOT = path.resolve(distDir, '..');
const VECTORS_FILE = path.join(ROOT, 'docs', 'test-vectors.json');
const PROTOCOL_FILE = path.join(ROOT, 'docs', 'PROTOCOL.md');

interface FrameVector {
  type: 'json' | 'binary';
  value?: unknown;
  payload: string;
  frame: string;
}
interface Vectors {
  handshake: Record<string, string>;
  frames: Record<string, FrameVector>;
  rpc: Record<string, FrameVector>;
  invalid_frames: Record<string, { bytes: string; max_message_size: number; error: string | null }>;
  valid_frames: Record<string, { bytes: string; max_message_size: number; error: null }>;
  rpc_checks: Record<string, { text: string; outcome: 'request' | 'PROTOCOL_ERROR' | 'ignored' | 'message'; answer_id?: number } | string>;
  key_files: Record<string, { file: string; key?: string; error?: string } | string>;
}

const vectors = JSON.parse(fs.readFileSync(VECTORS_FILE, 'utf8')) as Vectors;
const hs = vectors.handshake;
const hex = (text: string): Buffer => Buffer.from(text, 'hex');
const header = (magic: string): Buffer => Buffer.concat([Buffer.from(magic, 'latin1'), Buffer.alloc(4)]);
const mac = (label: string): Buffer => createHmac('sha256', hex(hs.key!)).update(label).update(hex(hs.client_nonce!)).update(hex(hs.server_nonce!)).digest();

describe('handshake vectors', () => {
  it('HELLO, SERVER PROOF and CLIENT PROOF are what node:crypto computes', () => {
    const nc = hex(hs.client_nonce!);
    const ns = hex(hs.server_nonce!);
    assert.equal(hs.server_label, 'localsocket v2 server');
    assert.equal(hs.client_label, 'localsocket v2 client');
    assert.deepEqual(hex(hs.hello!), Buffer.concat([header('LSC2'), nc]));
    assert.deepEqual(hex(hs.server_mac!), mac('localsocket v2 server'));
    assert.deepEqual(hex(hs.server_proof!), Buffer.concat([header('LSS2'), ns, mac('localsocket v2 server')]));
    assert.deepEqual(hex(hs.client_mac!), mac('localsocket v2 client'));
    assert.deepEqual(hex(hs.client_proof!), Buffer.concat([header('LSP2'), mac('localsocket v2 client')]));
    assert.deepEqual(hex(hs.busy!), header('LSB2'));
    assert.deepEqual([hex(hs.hello!).length, hex(hs.server_proof!).length, hex(hs.client_proof!).length], [40, 72, 40]);
  });

  it('the handshake module builds and accepts exactly these messages', () => {
    const key = hex(hs.key!);
    const nc = hex(hs.client_nonce!);
    const ns = hex(hs.server_nonce!);
    assert.deepEqual(clientHello(nc), hex(hs.hello!));
    assert.deepEqual(parseClientHello(hex(hs.hello!)), nc);
    assert.deepEqual(serverProof(key, nc, ns), hex(hs.server_proof!));
    assert.deepEqual(clientProof(key, nc, ns), hex(hs.client_proof!));
    assert.equal(verifyClientProof(hex(hs.client_proof!), key, nc, ns), true);
    const forged = hex(hs.client_proof!);
    forged[forged.length - 1]! ^= 1;
    assert.equal(verifyClientProof(forged, key, nc, ns), false);
    assert.deepEqual(BUSY_MESSAGE, hex(hs.busy!));
  });

  it('the key file text decodes to the key as the key file reader reads it', () => {
    const dir = tempDir();
    try {
      const file = path.join(dir, 'key');
      fs.writeFileSync(file, hs.key_file_text!, { mode: 0o600 });
      assert.deepEqual(readKeyFile(file, currentPlatform()), hex(hs.key!));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('frame vectors', () => {
  const all = Object.entries({ ...vectors.frames, ...vectors.rpc });

  it('the frame encoder writes each frame; JSON payloads are JSON.stringify of the value', () => {
    for (const [name, v] of all) {
      const payload = hex(v.payload);
      if (v.type === 'json') assert.deepEqual(payload, Buffer.from(JSON.stringify(v.value), 'utf8'), name);
      const type = v.type === 'json' ? FrameType.JSON : FrameType.BINARY;
      assert.deepEqual(hex(v.frame), Buffer.concat([encodeFrameHeader(type, payload.length), payload]), name);
    }
  });

  it('the frame decoder reads each frame, split at every byte, and all of them in one chunk', () => {
    for (const [name, v] of all) {
      const frame = hex(v.frame);
      for (let cut = 0; cut <= frame.length; cut++) {
        const got: Array<[number, Buffer]> = [];
        const decoder = new FrameDecoder();
        decoder.push(frame.subarray(0, cut), (t, p) => got.push([t, Buffer.from(p)]));
        decoder.push(frame.subarray(cut), (t, p) => got.push([t, Buffer.from(p)]));
        assert.equal(got.length, 1, `${name} cut at ${cut}`);
        assert.equal(got[0]![0], v.type === 'json' ? FrameType.JSON : FrameType.BINARY);
        assert.deepEqual(got[0]![1], hex(v.payload));
        if (v.type === 'json') assert.deepEqual(JSON.parse(got[0]![1].toString('utf8')), v.value);
        assert.equal(decoder.buffered, 0);
      }
    }
    const stream = Buffer.concat(all.map(([, v]) => hex(v.frame)));
    const payloads: string[] = [];
    new FrameDecoder().push(stream, (_t, p) => payloads.push(p.toString('hex')));
    assert.deepEqual(payloads, all.map(([, v]) => v.payload));
  });

  it('JSON-RPC vectors have the documented shapes', () => {
    const r = vectors.rpc;
    assert.deepEqual(r.request!.value, { jsonrpc: '2.0', id: 1, method: 'echo', params: { text: 'hi' } });
    assert.deepEqual(r.result!.value, { jsonrpc: '2.0', id: 1, result: { text: 'hi' } });
    assert.equal((r.notification!.value as Record<string, unknown>).id, undefined);
    assert.equal((r.error!.value as { error: { code: number } }).error.code, -32601);
    assert.deepEqual(r.cancel!.value, { jsonrpc: '2.0', method: '$/cancelRequest', params: { id: 3 } });
  });

  it('invalid frames fail and valid ones pass as the vectors say (the checks a JSON payload goes through before use)', () => {
    for (const [name, v] of [...Object.entries(vectors.invalid_frames), ...Object.entries(vectors.valid_frames)]) {
      const decoder = new FrameDecoder(v.max_message_size);
      let code: string | null = null;
      try {
        decoder.push(hex(v.bytes), (type, payload) => {
          if (type !== FrameType.JSON) return;
          // What MessageSocket checks before parsing: valid UTF-8, then the nesting limit.
          if (!isUtf8(payload) || bytesTooDeep(payload, 0, payload.length)) throw new LocalSocketError('PROTOCOL_ERROR', name);
          JSON.parse(payload.toString('utf8'));
        });
      } catch (err) {
        code = err instanceof LocalSocketError ? err.code : 'PROTOCOL_ERROR';
      }
      assert.equal(code, v.error, name);
    }
    assert.equal(hex(vectors.invalid_frames.too_large!.bytes).readUInt32BE(1), 1048577);
  });
});

describe('JSON-RPC checks and key files (vectors against a live MessageSocket and the key reader)', () => {
  it('each rpc_checks text has the documented outcome on a live connection', async () => {
    for (const [name, check] of Object.entries(vectors.rpc_checks)) {
      if (typeof check === 'string') continue;
      const p = await pair();
      try {
        const receiver = new MessageSocket(p.peer);
        receiver.on('error', () => {});
        receiver.handle('echo', (params) => params);
        const messages: unknown[] = [];
        receiver.on('message', (m) => messages.push(m));
        const closed = new Promise<unknown>((resolve) => receiver.once('close', resolve));
        const payload = Buffer.from(check.text);
        await p.client.write(Buffer.concat([encodeFrameHeader(FrameType.JSON, payload.length), payload]));
        // A marker request after it: answered only if the connection survived the text.
        const marker = Buffer.from('{"jsonrpc":"2.0","id":99,"method":"echo","params":"marker"}');
        await p.client.write(Buffer.concat([encodeFrameHeader(FrameType.JSON, marker.length), marker])).catch(() => {});
        if (check.outcome === 'PROTOCOL_ERROR') {
          const reason = await closed;
          assert.ok(reason instanceof LocalSocketError && reason.code === 'PROTOCOL_ERROR', `${name}: ${String(reason)}`);
          continue;
        }
        const answers: Array<{ id: number }> = [];
        while (!answers.some((a) => a.id === 99)) {
          while (p.client.bytesAvailable >= 5) {
            const length = p.client.peek(5).readUInt32BE(1);
            if (p.client.bytesAvailable < 5 + length) break;
            p.client.read(5);
            answers.push(JSON.parse(p.client.read(length).toString()) as { id: number });
          }
          if (!answers.some((a) => a.id === 99)) await p.client.waitForReadyRead({ timeout: 10_000 });
        }
        const others = answers.filter((a) => a.id !== 99);
        if (check.outcome === 'request') assert.deepEqual(others.map((a) => a.id), [check.answer_id], name);
        else assert.deepEqual(others, [], name);
        assert.equal(messages.length, check.outcome === 'message' ? 1 : 0, name);
      } finally {
        await p.close();
      }
    }
  });

  it('each key_files entry gives its key or its error', () => {
    for (const [name, entry] of Object.entries(vectors.key_files)) {
      if (typeof entry === 'string') continue;
      let got: string;
      try {
        got = parseKeyFile(hex(entry.file)).toString('hex');
      } catch (err) {
        got = err instanceof LocalSocketError ? err.code : String(err);
      }
      assert.equal(got, entry.key ?? entry.error, name);
    }
  });
});

/** Every hex-valued leaf of the vectors file, as "a.b.c" -> hex. */
function hexLeaves(value: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (typeof value === 'string') {
    if (/^([0-9a-f]{2})*$/.test(value) && value.length > 0) out.set(prefix, value);
  } else if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) for (const [p, h] of hexLeaves(v, prefix ? `${prefix}.${k}` : k)) out.set(p, h);
  }
  return out;
}

describe('docs/PROTOCOL.md', () => {
  const page = fs.readFileSync(PROTOCOL_FILE, 'utf8');
  const blocks = [...page.matchAll(/^```hex ([\w.]+)\n([\s\S]*?)^```$/gm)].map((m) => ({ path: m[1]!, hex: m[2]!.replace(/\s+/g, '') }));
  const leaves = hexLeaves(vectors);

  it('every hex block equals the value at its path in test-vectors.json', () => {
    assert.ok(blocks.length >= 15, `found ${blocks.length} hex blocks`);
    for (const block of blocks) {
      assert.ok(leaves.has(block.path), `${block.path} is not in test-vectors.json`);
      assert.equal(block.hex, leaves.get(block.path), block.path);
    }
  });

  it('shows every handshake message and every frame of the vectors file', () => {
    const shown = new Set(blocks.map((b) => b.path));
    const wanted = [...leaves.keys()].filter((p) => p.startsWith('handshake.') || (/^(frames|rpc|close\.frames)\./.test(p) && p.endsWith('.frame')));
    const missing = wanted.filter((p) => !shown.has(p) && !(p === 'handshake.key_file_text'));
    assert.deepEqual(missing, []);
  });

  it('shows the JSON of the JSON-RPC vectors as they are in the file', () => {
    for (const v of Object.values(vectors.rpc)) assert.ok(page.includes(JSON.stringify(v.value)), JSON.stringify(v.value));
  });
});

describe('short names on Linux', () => {
  it('are at most 82 bytes (107 less /proc/self/fd/2147483647/), whatever the private directory', async () => {
    const { resolveName, LINUX_SHORT_NAME_MAX_BYTES } = await import('../src/endpoint/names.js');
    assert.equal(LINUX_SHORT_NAME_MAX_BYTES, 82);
    const linux = { ...currentPlatform(), platform: 'linux' as NodeJS.Platform, env: { XDG_RUNTIME_DIR: '/r' } };
    assert.equal(resolveName('n'.repeat(82), {}, linux).kind, 'unix');
    assert.throws(() => resolveName('n'.repeat(83), {}, linux), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_NAME');
    // "." and ".." are refused as names; names that merely contain dots are fine.
    for (const bad of ['.', '..']) assert.throws(() => resolveName(bad, {}, linux), (e: unknown) => e instanceof LocalSocketError && e.code === 'INVALID_NAME');
    for (const good of ['a.b', '..x', 'x..', '...']) assert.equal(resolveName(good, {}, linux).kind, 'unix');
  });
});
