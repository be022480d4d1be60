/**
 * singleInstance: the first process is the primary, a later one hands its
 * argv and cwd over the authenticated socket and learns it is secondary;
 * a primary that dies between a loser's listen and its connect is replaced;
 * ten processes starting at once give exactly one primary.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, describe, test } from 'node:test';
import {
  connectMessages, listen, listenMessages, SECOND_INSTANCE_METHOD, singleInstance,
  type PrimaryInstance, type SecondInstanceInfo,
} from '../src/index.js';
import { rejectsWith } from './connection-helpers.js';
import { finished, runFixture, uniqueName, waitForLine } from './helpers.js';

const KEY = Buffer.alloc(32, 11);
const children = new Set<ChildProcess>();

after(() => {
  for (const child of children) child.kill('SIGKILL');
});

async function until(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('singleInstance', () => {
  test('the first call is the primary; a second hands over argv and cwd and learns it is secondary', async () => {
    const name = uniqueName('si');
    const first = await singleInstance(name, { key: KEY });
    assert.equal(first.primary, true);
    const primary = first as PrimaryInstance;
    const received: SecondInstanceInfo[] = [];
    primary.on('secondInstance', (info) => received.push(info));
    try {
      const second = await singleInstance(name, { key: KEY, argv: ['app', '--open', 'file.txt'], cwd: '/somewhere' });
      assert.deepEqual(second, { primary: false });
      // The answer comes after the event: it is there already.
      assert.deepEqual(received, [{ argv: ['app', '--open', 'file.txt'], cwd: '/somewhere' }]);
      // Defaults: this process's argv and cwd.
      await singleInstance(name, { key: KEY });
      assert.deepEqual(received[1], { argv: process.argv, cwd: process.cwd() });
    } finally {
      await primary.close();
    }
    // Once the primary closed, the name is free again.
    const again = await singleInstance(name, { key: KEY });
    assert.equal(again.primary, true);
    await (again as PrimaryInstance).close();
  });

  test('handovers that arrive before any listener are kept and delivered to the first one', async () => {
    const name = uniqueName('si');
    const primary = (await singleInstance(name, { key: KEY })) as PrimaryInstance;
    try {
      await singleInstance(name, { key: KEY, argv: ['one'], cwd: '/1' });
      await singleInstance(name, { key: KEY, argv: ['two'], cwd: '/2' });
      const received: string[] = [];
      primary.on('secondInstance', (info) => received.push(info.argv[0]!));
      await until(() => received.length === 2, 'queued handovers delivered');
      assert.deepEqual(received, ['one', 'two']);
    } finally {
      await primary.close();
    }
  });

  test('a primary that dies between our listen and our handover is replaced: we become the primary', async () => {
    const name = uniqueName('sd');
    // Holds the name, and goes away (server closed, connection dropped) as soon as someone connects.
    const dying = await listen(name, { key: KEY });
    let connections = 0;
    dying.on('newConnection', () => {
      const socket = dying.nextPendingConnection();
      connections++;
      void dying.close().then(() => socket?.abort());
    });
    const result = await singleInstance(name, { key: KEY, timeout: 10_000 });
    assert.equal(connections, 1, 'it first tried the old primary');
    assert.equal(result.primary, true);
    await (result as PrimaryInstance).close();
  });

  test('a primary that never answers: TIMEOUT at the deadline', async () => {
    const name = uniqueName('st');
    const stuck = await listenMessages(name, { key: KEY });
    stuck.handle(SECOND_INSTANCE_METHOD, () => new Promise(() => {}));
    try {
      await rejectsWith(singleInstance(name, { key: KEY, timeout: 300 }), 'TIMEOUT');
    } finally {
      await stuck.close();
    }
  });

  test('the primary refuses a malformed handover with an error reply (-32602), and keeps serving', async () => {
    const name = uniqueName('sm');
    const primary = (await singleInstance(name, { key: KEY })) as PrimaryInstance;
    const received: SecondInstanceInfo[] = [];
    primary.on('secondInstance', (info) => received.push(info));
    const peer = await connectMessages(name, { key: KEY });
    try {
      for (const params of [null, { argv: 'x', cwd: '/' }, { argv: [1], cwd: '/' }, { argv: [] }]) {
        const err = await rejectsWith(peer.request(SECOND_INSTANCE_METHOD, params), 'REMOTE_ERROR', JSON.stringify(params));
        assert.equal(err.remote?.code, -32602);
      }
      assert.equal(received.length, 0);
      assert.deepEqual(await singleInstance(name, { key: KEY, argv: ['ok'], cwd: '/' }), { primary: false });
      assert.equal(received.length, 1);
    } finally {
      await peer.close();
      await primary.close();
    }
  });

  test('bad options throw INVALID_ARGUMENT', async () => {
    await rejectsWith(singleInstance(uniqueName('sb'), { key: KEY, argv: [1 as unknown as string] }), 'INVALID_ARGUMENT');
    await rejectsWith(singleInstance(uniqueName('sb'), { key: KEY, cwd: 5 as unknown as string }), 'INVALID_ARGUMENT');
    await rejectsWith(singleInstance(uniqueName('sb'), { key: KEY, timeout: Infinity }), 'INVALID_ARGUMENT');
  });

  // A short name with auth: on Windows the exclusion is the private record lock, so this holds under Wine too.
  test('10 processes start at once: exactly one primary; the other 9 hand over their arguments and exit; the primary receives all 9', async () => {
    const name = uniqueName('race');
    const keyHex = KEY.toString('hex');
    const apps = Array.from({ length: 10 }, (_, i) => {
      const child = runFixture('single-instance-app.js', [name, keyHex, `app${i}`, '9', '--wait-go']);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    });
    await Promise.all(apps.map((child) => waitForLine(child, /^ready$/, 20_000)));
    const results = apps.map((child) => finished(child, 60_000));
    for (const child of apps) child.stdin!.write('go\n');
    const outcomes = await Promise.all(results);
    const primaries = outcomes.filter((o) => o.stdout.startsWith('primary'));
    const secondaries = outcomes.filter((o) => o.stdout.startsWith('secondary'));
    assert.equal(primaries.length, 1, `exactly one primary; outputs: ${outcomes.map((o) => o.stdout.trim()).join(' | ')}`);
    assert.equal(secondaries.length, 9);
    for (const o of outcomes) assert.equal(o.code, 0, `exit status; stdout: ${o.stdout} stderr: ${o.stderr}`);
    const primaryIndex = outcomes.indexOf(primaries[0]!);
    const got = primaries[0]!.stdout
      .split('\n')
      .filter((l) => l.startsWith('got '))
      .map((l) => JSON.parse(l.slice(4)) as SecondInstanceInfo);
    assert.equal(got.length, 9);
    const expected = Array.from({ length: 10 }, (_, i) => `app${i}`).filter((_, i) => i !== primaryIndex);
    assert.deepEqual(got.map((g) => g.argv[1]).sort(), expected.sort());
    for (const g of got) assert.equal(g.cwd, `/cwd/${g.argv[1]}`);
  });
});
