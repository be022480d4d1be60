/**
 * Runtimes other than Node.js: a server on a Unix socket path and on a short
 * name listens and is reached, and its name lock is taken and released.
 * `.ci/run` runs this file on Bun and Deno too (there it is the check that a
 * server works on that runtime; on Node it is the baseline). The lock is a
 * socket inside a private directory, an ordinary pathname every runtime can
 * bind, so nothing here depends on the runtime.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { connect, listen } from '../src/index.js';
import { rejectsWith } from './connection-helpers.js';
import { isWindows, tempDir, uniqueName } from './helpers.js';

const versions = process.versions as Record<string, string | undefined>;
const runtime = versions.bun !== undefined ? `Bun ${versions.bun}` : versions.deno !== undefined ? `Deno ${versions.deno}` : `Node.js ${process.versions.node}`;

test(`${runtime}: a server on a socket path listens, a client connects, a second server on the path is refused, and close leaves nothing behind`, { skip: isWindows && 'Unix socket paths: Unix only' }, async () => {
  const dir = tempDir();
  try {
    const name = path.join(dir, 'server.sock');
    const server = await listen(name, { auth: false });
    // The name lock is held: a second server on the same path is refused, not bound over the first.
    await rejectsWith(listen(name, { auth: false }), 'ADDRESS_IN_USE');
    const client = await connect(name, { auth: false, timeout: 10_000 });
    await server.waitForNewConnection({ timeout: 10_000 });
    client.abort();
    await server.close();
    assert.deepEqual(fs.readdirSync(dir), []);
    // Released: the path can be served again.
    const again = await listen(name, { auth: false });
    await again.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test(`${runtime}: a server on a short name listens and a client connects`, async () => {
  const name = uniqueName('runtime');
  const server = await listen(name, { auth: false });
  try {
    const client = await connect(name, { auth: false, timeout: 10_000 });
    await server.waitForNewConnection({ timeout: 10_000 });
    client.abort();
  } finally {
    await server.close();
  }
});
