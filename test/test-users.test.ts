/**
 * The second users of a root test run: scripts/run-tests.mjs makes them for
 * the run and deletes them at its end, with what they left behind, even when
 * the tests fail; and a peer runs even from a checkout that other users cannot
 * enter (here: a copy of this one in a fresh 0700 directory, run through its
 * own scripts/run-tests.mjs).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { distDir, finished, isWindows, secondUserSkip, uniqueName } from './helpers.js';

const repo = path.resolve(distDir, '..');

/** What the run inside reports about its peer, written to a file (the runner owns its stdout). */
interface Probe {
  name: string;
  uid: number;
  socket: string;
  peerRoot: string;
}

// The test file run inside: a peer made, run, killed (its socket stays), then a deliberate failure.
const PROBE = `
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { finished, runFixture, unprivilegedUser, waitForLine } from './dist/test/helpers.js';

test('a peer runs from this checkout, is killed and leaves its socket; then this test fails', async () => {
  const peer = unprivilegedUser('lsock-probe');
  assert.ok(peer, 'a second user');
  // TMPDIR=/tmp: the peer's short name lands in /tmp/localsocket-<uid>, the library's default place.
  const child = runFixture('peer-process.js', ['server', process.env.PROBE_NAME, JSON.stringify({ auth: false, access: 'world' })], { asUser: peer, env: { TMPDIR: '/tmp' } });
  const line = await waitForLine(child, /^ready /, 20_000);
  const done = finished(child);
  child.kill('SIGKILL');
  await done;
  const socket = line.slice('ready '.length).trim();
  assert.ok(fs.existsSync(socket), 'the killed peer left its socket');
  const peerRoot = JSON.parse(process.env.LOCALSOCKET_TEST_PEERS).root;
  fs.writeFileSync(process.env.PROBE_OUT, JSON.stringify({ name: peer.name, uid: peer.uid, socket, peerRoot }));
  assert.fail('failing on purpose: the run must remove its users anyway');
});
`;

function userExists(name: string): boolean {
  try {
    execFileSync('id', ['-u', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('a run from a checkout other users cannot enter: its peer runs, and its user and files are gone after a failing run', { skip: isWindows ? 'second users are a Linux test set-up' : secondUserSkip() }, async () => {
  const checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'lstest-checkout-'));
  try {
    assert.equal(fs.statSync(checkout).mode & 0o777, 0o700);
    // The parts of a checkout a test run uses: the scripts, the compiled library and tests, package.json.
    fs.cpSync(path.join(repo, 'scripts'), path.join(checkout, 'scripts'), { recursive: true });
    fs.cpSync(path.join(repo, 'package.json'), path.join(checkout, 'package.json'));
    for (const part of ['src', 'test']) fs.cpSync(path.join(distDir, part), path.join(checkout, 'dist', part), { recursive: true });
    fs.writeFileSync(path.join(checkout, 'probe.test.mjs'), PROBE);
    const out = path.join(checkout, 'probe.json');
    // A run of its own, not a subtest of this one (node:test marks its children with NODE_TEST_CONTEXT).
    const env: NodeJS.ProcessEnv = { ...process.env, PROBE_OUT: out, PROBE_NAME: uniqueName('probe') };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, [path.join(checkout, 'scripts', 'run-tests.mjs'), path.join(checkout, 'probe.test.mjs')], { stdio: ['ignore', 'pipe', 'pipe'], env });
    const run = await finished(child, 120_000);
    assert.notEqual(run.code, 0, `the probe fails on purpose: ${run.stdout.slice(-3000)} ${run.stderr.slice(-1000)}`);
    assert.ok(fs.existsSync(out), `the peer ran from the 0700 checkout: ${run.stdout.slice(-2000)}`);
    const probe = JSON.parse(fs.readFileSync(out, 'utf8')) as Probe;
    assert.match(probe.name, /^lsock-probe-[0-9a-f]{8}$/);
    assert.ok(!probe.peerRoot.startsWith(checkout), 'the peers ran a copy outside the checkout');
    // After the run: no user, no group, no socket, no home or copy.
    assert.equal(userExists(probe.name), false, `user ${probe.name} is gone`);
    assert.equal(execFileSync('getent', ['passwd']).toString().includes(`${probe.name}:`), false);
    assert.equal(fs.existsSync(probe.socket), false, `the socket ${probe.socket} is gone`);
    assert.equal(fs.existsSync(probe.peerRoot), false, 'the peer root (homes, copy of dist) is gone');
  } finally {
    fs.rmSync(checkout, { recursive: true, force: true });
  }
});
