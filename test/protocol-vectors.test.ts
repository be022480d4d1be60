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
import { encodeFrameHeader, FrameDecoder, FrameType } from '../src/messages/frame.js';
import { currentPlatform } from '../src/platform.js';
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

  it('invalid frames fail as the vectors say (an empty or invalid JSON payload fails JSON.parse)', () => {
    for (const [name, v] of Object.entries(vectors.invalid_frames)) {
      const decoder = new FrameDecoder(v.max_message_size);
      let code: string | null = null;
      try {
        decoder.push(hex(v.bytes), (type, payload) => {
          if (type === FrameType.JSON) JSON.parse(payload.toString('utf8'));
        });
      } catch (err) {
        code = err instanceof LocalSocketError ? err.code : 'PROTOCOL_ERROR';
      }
      assert.equal(code, v.error, name);
    }
    assert.equal(hex(vectors.invalid_frames.too_large!.bytes).readUInt32BE(1), 1048577);
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
