/**
 * Runtimes other than Node.js: what cannot work fails at the first call with
 * UNSUPPORTED, naming the runtime and what it lacks, and leaves nothing on
 * disk. Runs on Node (with the runtime's version marker set for the test) and
 * on the runtime itself (.ci/run runs it on Bun and Deno).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { connect, listen } from '../src/index.js';
import { rejectsWith } from './finding-helpers.js';
import { isLinux, tempDir, uniqueName } from './helpers.js';

const versions = process.versions as Record<string, string | undefined>;
const onBun = versions.bun !== undefined;

/** Runs `fn` as if on Bun (the marker Bun sets), unless this is Bun already. */
async function asBun(fn: () => Promise<void>): Promise<void> {
  if (onBun) return fn();
  Object.defineProperty(versions, 'bun', { value: '1.4.5', configurable: true, enumerable: true });
  try {
    await fn();
  } finally {
    delete versions.bun;
  }
}

test('Bun on Linux: a server on a Unix socket name fails UNSUPPORTED at listen(), naming Bun and the name lock, with nothing on disk', { skip: !isLinux && 'the name lock is an abstract address: Linux only' }, async () => {
  const dir = tempDir();
  try {
    await asBun(async () => {
      const err = await rejectsWith(listen(path.join(dir, 'server.sock'), { auth: false }), 'UNSUPPORTED');
      assert.match(err.message, /Bun \d/);
      assert.match(err.message, /abstract socket address of 108 bytes/);
      await rejectsWith(listen(uniqueName('bun'), { auth: false }), 'UNSUPPORTED');
    });
    assert.deepEqual(fs.readdirSync(dir), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('not on Bun: the same listen works, and a client connects', { skip: onBun && 'this runtime is Bun (the test above is its check)' }, async () => {
  const dir = tempDir();
  try {
    const name = path.join(dir, 'server.sock');
    const server = await listen(name, { auth: false });
    const client = await connect(name, { auth: false, timeout: 10_000 });
    client.abort();
    await server.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
