/**
 * Another user who creates `<tmp>/localsocket-<our uid>` before we start (as
 * a directory of theirs, a file, or a symbolic link) cannot stop us: a server
 * on a full path in our own directory needs nothing in the temp directory,
 * and a short-name server and its client both move to the same fallback
 * directory under our config directory, without configuration.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { finished, isLinux, isWindows, runFixture, sharedTempDir, tempDir, unprivilegedUser, waitForLine, type PeerUser } from './helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const skip = (!isLinux && 'needs a second real user (root on Linux)') || (!unprivilegedUser() && 'needs root to create a second user');

/** Runs a command as the other user. */
function asPeer(peer: PeerUser, command: string[]): void {
  execFileSync('setpriv', [`--reuid=${peer.uid}`, `--regid=${peer.gid}`, '--clear-groups', ...command], { stdio: 'ignore' });
}

/** A temp dir like /tmp: world-writable and sticky, so the other user can create in it but not remove what we create. */
function stickyTmp(): string {
  const dir = sharedTempDir('lstest-sticky-');
  dirs.push(dir);
  fs.chmodSync(dir, 0o1777);
  return dir;
}

const squats = {
  'a directory of theirs': (peer: PeerUser, at: string) => asPeer(peer, ['mkdir', '-m', '0700', at]),
  'a file': (peer: PeerUser, at: string) => asPeer(peer, ['touch', at]),
  'a symbolic link': (peer: PeerUser, at: string) => asPeer(peer, ['ln', '-s', '/', at]),
};

for (const [what, squat] of Object.entries(squats)) {
  test(`<tmp>/localsocket-<uid> taken by another user as ${what}: full-path and short-name servers still start and are reached`, { skip, timeout: 60_000 }, async () => {
    const peer = unprivilegedUser()!;
    const tmp = stickyTmp();
    const taken = path.join(tmp, `localsocket-${process.getuid!()}`);
    squat(peer, taken);
    const takenBefore = fs.lstatSync(taken);
    assert.equal(takenBefore.uid, peer.uid, 'the other user owns what is there');
    // The victim's own places: its config directory and a directory for full paths.
    const own = tempDir();
    dirs.push(own);
    const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: '', XDG_CONFIG_HOME: path.join(own, 'config') };

    for (const name of [path.join(own, 'own.sock'), 'short-name']) {
      const server = runFixture('server-listen.js', [name], { env });
      try {
        const line = await waitForLine(server, /^(listening|error)/);
        assert.match(line, /^listening /, `${name}: ${line}`);
        const where = line.split(' ')[2]!;
        if (name === 'short-name') assert.equal(where, path.join(own, 'config', 'localsocket', 'sockets', 'short-name'), 'the fallback directory');
        else assert.equal(where, name);
        const client = await finished(runFixture('server-connect.js', [name], { env }), 20_000);
        assert.match(client.stdout, /^reply hello \d+$/m, `${name}: ${client.stdout}`);
      } finally {
        server.stdin?.end();
        await finished(server, 10_000).catch(() => server.kill('SIGKILL'));
      }
    }
    // Nothing of theirs was touched or used.
    const takenAfter = fs.lstatSync(taken);
    assert.equal(takenAfter.ino, takenBefore.ino);
    if (takenAfter.isDirectory()) assert.deepEqual(fs.readdirSync(taken), []);
  });
}

test('with <tmp>/localsocket-<uid> free, short names still live there (the fallback is only for a taken directory)', { skip: isWindows && 'Unix directories', timeout: 60_000 }, async () => {
  const tmp = stickyTmp();
  const own = tempDir();
  dirs.push(own);
  const env = { TMPDIR: tmp, XDG_RUNTIME_DIR: '', XDG_CONFIG_HOME: path.join(own, 'config') };
  const server = runFixture('server-listen.js', ['short-name'], { env });
  try {
    const line = await waitForLine(server, /^(listening|error)/);
    assert.equal(line.split(' ')[2], path.join(tmp, `localsocket-${process.getuid!()}`, 'short-name'));
  } finally {
    server.stdin?.end();
    await finished(server, 10_000).catch(() => server.kill('SIGKILL'));
  }
});
