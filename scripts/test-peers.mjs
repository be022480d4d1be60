// The second users of a test run (Linux, as root): the tests that must not
// pass only because root ignores file modes run a peer as an unprivileged
// user. scripts/run-tests.mjs calls setupPeers() before the tests and
// removePeers() after them, whatever happened:
// - the users are made on demand by test/helpers.ts `unprivilegedUser(name)`,
//   as `<name>-<run id>` (unique to this run), with their home in this run's
//   peer root, and are deleted at the end with their homes, their groups and
//   anything they left in /tmp/localsocket-<uid>;
// - the peer root, a directory every user can reach, holds a copy of what the
//   peers run (dist/src and dist/test/fixtures): the checkout itself may sit in
//   a directory other users cannot enter (a clone under root's home, or under
//   `mktemp -d`);
// - users left by a run whose wrapper was killed (its pid is in the user's
//   comment field) are deleted by the next run.
// Where none of this is possible, the tests get the reason and skip with it.
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';

/** The comment field of every test user: names the wrapper process that will delete it. */
export const COMMENT_PREFIX = 'localsocket test run, wrapper pid ';

/** Whether every user may traverse `dir` and each directory above it. */
function traversableByAll(dir) {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    try {
      if ((statSync(d).mode & 0o001) === 0) return false;
    } catch {
      return false;
    }
    if (path.dirname(d) === d) return true;
  }
}

function hasCommand(name) {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** passwd entries as [name, uid, comment]. */
function passwdEntries() {
  return execFileSync('getent', ['passwd'], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(':'))
    .map(([name, , uid, , comment]) => ({ name, uid: Number(uid), comment: comment ?? '' }));
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Deletes a test user, its group, and its private directory in /tmp (the library's default place for short names). */
function deleteUser({ name, uid }) {
  const privateDir = path.join('/tmp', `localsocket-${uid}`);
  try {
    if (lstatSync(privateDir).uid === uid) rmSync(privateDir, { recursive: true, force: true });
  } catch {}
  try {
    execFileSync('userdel', [name], { stdio: 'ignore' });
  } catch {}
  try {
    // userdel removes a user's own group; a group left by an interrupted useradd goes here.
    execFileSync('groupdel', [name], { stdio: 'ignore' });
  } catch {}
}

/**
 * @param repo - the checkout.
 * @returns the environment for the tests: LOCALSOCKET_TEST_PEERS (JSON:
 *   runId, root, pid) when second users can be made, else
 *   LOCALSOCKET_TEST_PEERS_SKIP (why not, and how to run them); and the state
 *   removePeers() needs.
 */
export function setupPeers(repo) {
  if (process.platform !== 'linux') return { env: { LOCALSOCKET_TEST_PEERS_SKIP: 'second users are made on Linux only' }, state: null };
  if (process.getuid() !== 0) {
    return { env: { LOCALSOCKET_TEST_PEERS_SKIP: 'needs root to make temporary second users: run `sudo npm test` (they are removed afterwards)' }, state: null };
  }
  const missing = ['useradd', 'userdel', 'setpriv', 'getent'].filter((c) => !hasCommand(c));
  if (missing.length > 0) return { env: { LOCALSOCKET_TEST_PEERS_SKIP: `needs ${missing.join(', ')} (shadow-utils, util-linux) to run peers as a second user` }, state: null };
  if (!traversableByAll(path.dirname(process.execPath)) || (statSync(process.execPath).mode & 0o001) === 0) {
    return {
      env: { LOCALSOCKET_TEST_PEERS_SKIP: `another user cannot run ${process.execPath}: run the tests with a node every user can reach (e.g. /usr/bin/node)` },
      state: null,
    };
  }
  // Users of earlier runs whose wrapper is gone (killed before it could clean up).
  for (const entry of passwdEntries()) {
    if (!entry.comment.startsWith(COMMENT_PREFIX)) continue;
    const pid = Number(entry.comment.slice(COMMENT_PREFIX.length));
    if (!alive(pid)) deleteUser(entry);
  }
  const base = traversableByAll(os.tmpdir()) ? os.tmpdir() : '/tmp';
  const root = mkdtempSync(path.join(base, 'localsocket-peers-'));
  chmodSync(root, 0o755);
  // What the peers run: the compiled library and the fixtures, as ES modules.
  for (const part of [['src'], ['test', 'fixtures']]) {
    const from = path.join(repo, 'dist', ...part);
    if (existsSync(from)) cpSync(from, path.join(root, 'dist', ...part), { recursive: true });
  }
  writeFileSync(path.join(root, 'package.json'), '{ "type": "module" }\n');
  execFileSync('chmod', ['-R', 'a+rX', root]);
  // The users' homes for this run, each 0700 and its user's, are made in here (test/helpers.ts).
  mkdirSync(path.join(root, 'home'), { mode: 0o755 });
  const runId = randomBytes(4).toString('hex');
  const config = { runId, root, comment: `${COMMENT_PREFIX}${process.pid}` };
  return { env: { LOCALSOCKET_TEST_PEERS: JSON.stringify(config) }, state: config };
}

/**
 * Deletes every user of this run and the peer root.
 * @param state - from setupPeers().
 * @returns the names deleted.
 */
export function removePeers(state) {
  if (state === null) return [];
  const mine = passwdEntries().filter((e) => e.comment === state.comment && e.name.endsWith(`-${state.runId}`));
  for (const entry of mine) deleteUser(entry);
  rmSync(state.root, { recursive: true, force: true });
  return mine.map((e) => e.name);
}
