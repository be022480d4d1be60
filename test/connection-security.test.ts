/**
 * What another local user can do to the way a connection is made: plant a
 * FIFO where a key is read, swap the private directory between its check and
 * its use. And failures on these paths are LocalSocketErrors with short
 * messages. (The lock another user cannot see: test/lock-visibility.test.ts.)
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { connect, listen, LocalSocketError } from '../src/index.js';
import { finished, isLinux, sharedTempDir, isWindows, isWine, WINE_SECOND_LISTEN, runFixture, secondUserSkip, tempDir, uniqueName, unprivilegedUser, waitForLine } from './helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function scratch(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

const needsSecondUser = !unprivilegedUser() && (isWindows ? 'another user: Wine runs everything as one user' : secondUserSkip());

test('two servers on one name exclude each other through the lock even when started together (20 rounds)', { skip: isWine && WINE_SECOND_LISTEN }, async () => {
  for (let round = 0; round < 20; round++) {
    const name = uniqueName('race');
    const results = await Promise.allSettled([listen(name), listen(name)]);
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    try {
      assert.equal(won.length, 1);
      const lost = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((lost.reason as LocalSocketError).code, 'ADDRESS_IN_USE');
    } finally {
      for (const server of won) await server.close();
    }
  }
});

for (const which of ['keyFile', 'default key path'] as const) {
  test(`a FIFO as the ${which} is refused with ACCESS_DENIED at once, never blocking`, { skip: isWindows && 'FIFOs at a file path are Unix' }, async () => {
    const d = scratch();
    const config = path.join(d, 'config');
    const fifo = which === 'keyFile' ? path.join(d, 'key') : path.join(config, 'localsocket', 'key');
    fs.mkdirSync(path.dirname(fifo), { recursive: true, mode: 0o700 });
    execFileSync('mkfifo', ['-m', '600', fifo]);
    const child = runFixture('key-open.js', [which === 'keyFile' ? fifo : 'default'], { env: { XDG_CONFIG_HOME: config } });
    // A blocking open would hang the child for good; the deadline turns that into a failure here.
    const result = await finished(child, 10_000);
    assert.match(result.stdout, /^ACCESS_DENIED: key file refused: not a regular file/m);
  });
}

test('a socket or a directory as the key file is refused with ACCESS_DENIED', { skip: isWindows && 'Unix sockets at a file path' }, async () => {
  const d = scratch();
  const sock = path.join(d, 'key.sock');
  const holder = await listen(sock, { auth: false });
  try {
    const result = await finished(runFixture('key-open.js', [sock]), 10_000);
    assert.match(result.stdout, /^ACCESS_DENIED: key file refused: not a regular file/m);
  } finally {
    await holder.close();
  }
  const result = await finished(runFixture('key-open.js', [d]), 10_000);
  assert.match(result.stdout, /^ACCESS_DENIED: key file refused: not a regular file/m);
});

test('a key directory or private directory that cannot be created gives ACCESS_DENIED, a short message and the OS error as cause', { skip: isWindows && 'Unix paths' }, async () => {
  const d = scratch();
  const blocker = path.join(d, 'not-a-dir');
  fs.writeFileSync(blocker, 'x');
  // The default key under a "directory" that is a file.
  const keyResult = await finished(runFixture('key-open.js', ['default'], { env: { XDG_CONFIG_HOME: path.join(blocker, 'config') } }), 10_000);
  assert.match(keyResult.stdout, /^ACCESS_DENIED: key file refused: cannot create its directory$/m);
  // The private directory under a temp dir that is a file.
  const child = runFixture('key-open.js', ['default'], { env: { XDG_CONFIG_HOME: path.join(d, 'cfg'), XDG_RUNTIME_DIR: '', TMPDIR: blocker } });
  const dirResult = await finished(child, 10_000);
  assert.match(dirResult.stdout, /^ACCESS_DENIED: private socket directory is unsafe: cannot create it$/m);
  assert.ok(!dirResult.stdout.includes(blocker), 'no path in the message');
});

test('the private directory swapped by another user between check and use: the attacker never receives a connection', { skip: (!isLinux && 'the directory-descriptor defence is Linux-only (/proc/self/fd); elsewhere the directory is checked by path') || needsSecondUser, timeout: 120_000 }, async () => {
  const peer = unprivilegedUser()!;
  // A shared temp dir that is NOT sticky: anyone may rename entries in it.
  const shared = sharedTempDir();
  dirs.push(shared);
  fs.chmodSync(shared, 0o777);
  const name = 'victim';
  // The victim creates its private directory and listens first, then the attacker starts swapping it.
  const victim = runFixture('swap-victim.js', [name, '1500'], { env: { TMPDIR: shared, XDG_RUNTIME_DIR: '' } });
  await waitForLine(victim, /^listening/);
  const attacker = runFixture('dir-swapper.js', [shared, String(process.getuid!()), name], { asUser: peer });
  try {
    await waitForLine(attacker, /^swapping/);
    victim.stdin?.write('go\n');
    const result = await finished(victim, 100_000);
    assert.equal(result.code, 0, result.stderr);
    const outcome = JSON.parse(result.stdout.trim().split('\n').pop()!) as { connected: number; failed: Record<string, number> };
    for (const code of Object.keys(outcome.failed)) assert.ok(['ACCESS_DENIED', 'SERVER_NOT_FOUND', 'CONNECTION_REFUSED'].includes(code), `unexpected failure ${code}`);
    attacker.stdin?.end();
    const attackerResult = await finished(attacker, 10_000);
    const accepted = Number(/accepted (\d+)/.exec(attackerResult.stdout)?.[1] ?? 'NaN');
    console.log(`directory swap: victim connected ${outcome.connected} of 1500 (${JSON.stringify(outcome.failed)}); attacker accepted ${accepted}`);
    assert.equal(accepted, 0, 'the attacker received a connection');
    assert.ok(outcome.connected > 0, 'the victim still connects whenever its directory is in place');
  } finally {
    attacker.kill();
    victim.kill();
  }
});

test('connect and listen failures on the connection path are LocalSocketErrors', async () => {
  const d = scratch();
  await assert.rejects(connect(uniqueName('absent'), { keyFile: path.join(d, 'missing'), timeout: 500 }), (e) => e instanceof LocalSocketError && e.code === 'INVALID_ARGUMENT');
  await assert.rejects(connect(uniqueName('absent'), { timeout: 500 }), (e) => e instanceof LocalSocketError && e.code === 'SERVER_NOT_FOUND');
});
