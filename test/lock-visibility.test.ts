/**
 * The name lock is nothing another user can see or take: a second user who
 * reads /proc/net/unix without pause and binds every abstract address listed
 * there (as soon as its holder lets go) never keeps our server from starting,
 * however often it restarts.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, test } from 'node:test';
import { listen, singleInstance, type PrimaryInstance } from '../src/index.js';
import { finished, isLinux, runFixture, sharedTempDir, uniqueName, unprivilegedUser, waitForLine } from './helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const skip = (!isLinux && '/proc/net/unix and abstract addresses are Linux-only') || (!unprivilegedUser() && 'needs root to create a second user');
const ROUNDS = 20;

/** Binds an abstract address of our own, lets it go, and waits until the grabber has taken it: proof it is at work. */
async function provenAtWork(grabber: ReturnType<typeof runFixture>): Promise<void> {
  const canary = uniqueName('canary');
  const bait = net.createServer();
  await new Promise<void>((resolve) => bait.listen({ path: `\0${canary}` }, () => resolve()));
  // Held long enough to be listed and seen; then released for the grabber to take.
  await waitForLine(grabber, /^watching/);
  await waitUntilListed(canary);
  const taken = waitForLine(grabber, new RegExp(`^bound ${canary}$`), 20_000);
  await new Promise((r) => setTimeout(r, 50));
  await new Promise<void>((resolve) => bait.close(() => resolve()));
  await taken;
}

function waitUntilListed(name: string): Promise<void> {
  return new Promise((resolve) => {
    const poll = (): void => {
      if (fs.readFileSync('/proc/net/unix', 'latin1').includes(`@${name}`)) resolve();
      else setTimeout(poll, 5);
    };
    poll();
  });
}

/** Times `start` ROUNDS times; every round must succeed. */
async function restartMany(start: () => Promise<{ close(): Promise<void> }>): Promise<number[]> {
  const took: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const begun = performance.now();
    const server = await start();
    took.push(Math.round(performance.now() - begun));
    await server.close();
  }
  return took;
}

test('another user binding every abstract address it sees never blocks listen or singleInstance (20 restarts each)', { skip, timeout: 180_000 }, async () => {
  const peer = unprivilegedUser()!;
  const dir = sharedTempDir();
  dirs.push(dir);
  const grabber = runFixture('abstract-grabber.js', [], { asUser: peer });
  try {
    await provenAtWork(grabber);
    const name = uniqueName('victim');
    const shortTimes = await restartMany(() => listen(name));
    const fullTimes = await restartMany(() => listen(path.join(dir, 'victim.sock')));
    const singleTimes = await restartMany(async () => {
      const instance = await singleInstance(`${name}-single`);
      assert.equal(instance.primary, true);
      return instance as PrimaryInstance;
    });
    // Each start succeeded (a lock it could see and hold would have failed it with TIMEOUT); the times are for
    // the record, not asserted. (What the grabber took is not checked: it sees every process on the machine.)
    console.log(`start times with the grabber running (ms): short name ${shortTimes.join(' ')}; full path ${fullTimes.join(' ')}; singleInstance ${singleTimes.join(' ')}`);
    assert.equal(shortTimes.length + fullTimes.length + singleTimes.length, 3 * ROUNDS);
  } finally {
    grabber.stdin?.end();
    await finished(grabber, 10_000).catch(() => grabber.kill('SIGKILL'));
  }
});
