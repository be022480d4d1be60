/** The handshake test vectors written in docs/SECURITY.md, checked against the implementation. */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { BUSY_MESSAGE, clientHello, clientProof, parseClientHello, serverProof, verifyClientProof } from '../src/auth/handshake.js';
import { distDir } from './helpers.js';

function vectors(): Record<string, Buffer> {
  const doc = fs.readFileSync(path.join(distDir, '..', 'docs', 'SECURITY.md'), 'utf8');
  const block = /### Test vectors[\s\S]*?```text\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'docs/SECURITY.md has a test-vector block');
  const out: Record<string, Buffer> = {};
  for (const line of block[1]!.trim().split('\n')) {
    const [name, hex] = line.trim().split(/\s+/);
    out[name!] = Buffer.from(hex!, 'hex');
  }
  return out;
}

test('the documented handshake vectors are what the implementation sends and accepts', () => {
  const v = vectors();
  for (const name of ['key', 'Nc', 'Ns', 'hello', 'server-proof', 'client-proof', 'busy']) assert.ok(v[name], `vector ${name}`);
  assert.deepEqual(clientHello(v.Nc!), v.hello);
  assert.deepEqual(serverProof(v.key!, v.Nc!, v.Ns!), v['server-proof']);
  assert.deepEqual(clientProof(v.key!, v.Nc!, v.Ns!), v['client-proof']);
  assert.deepEqual(BUSY_MESSAGE, v.busy);
  assert.deepEqual(parseClientHello(v.hello!), v.Nc);
  assert.equal(verifyClientProof(v['client-proof']!, v.key!, v.Nc!, v.Ns!), true);
  // One flipped bit anywhere in the proof, or a swapped nonce, fails.
  for (let i = 0; i < v['client-proof']!.length; i++) {
    const bad = Buffer.from(v['client-proof']!);
    bad[i]! ^= 1;
    assert.equal(verifyClientProof(bad, v.key!, v.Nc!, v.Ns!), false, `bit flip at byte ${i}`);
  }
  assert.equal(verifyClientProof(v['client-proof']!, v.key!, v.Ns!, v.Nc!), false);
  assert.equal(parseClientHello(Buffer.concat([v.hello!, Buffer.from([0])])), null);
});

test('SECURITY.md shows the same handshake vectors as docs/test-vectors.json (one set for both pages)', () => {
  const v = vectors();
  const file = JSON.parse(fs.readFileSync(path.join(distDir, '..', 'docs', 'test-vectors.json'), 'utf8')) as { handshake: Record<string, string> };
  const h = file.handshake;
  const expected: Record<string, string | undefined> = {
    key: h.key,
    Nc: h.client_nonce,
    Ns: h.server_nonce,
    hello: h.hello,
    'server-proof': h.server_proof,
    'client-proof': h.client_proof,
    busy: h.busy,
  };
  for (const [name, hex] of Object.entries(expected)) assert.equal(v[name]?.toString('hex'), hex, name);
});
