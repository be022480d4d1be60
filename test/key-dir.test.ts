/**
 * The key's directory is checked like the private directory: a directory
 * that is a symbolic link, that belongs to another user, or that others can
 * write to is refused with ACCESS_DENIED naming what is wrong with it, and
 * nothing is created inside it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { finished, isWindows, runFixture, sharedTempDir, tempDir, unprivilegedUser } from './helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const unix = isWindows && 'Windows: Node cannot read ACLs, key directories there are not checked';
const secondUser = unix || (!unprivilegedUser() && 'needs root to create a second user');

function scratch(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

/** Starts a server with the default key under `config` (or with `keyFile`) in a child; its one line of outcome. */
async function outcome(config: string, keyFile?: string): Promise<string> {
  const result = await finished(runFixture('key-open.js', [keyFile ?? 'default'], { env: { XDG_CONFIG_HOME: config } }), 15_000);
  return result.stdout.trim();
}

test('a key directory that is a symbolic link into another user\'s directory: ACCESS_DENIED, nothing created there', { skip: secondUser }, async () => {
  const peer = unprivilegedUser()!;
  const config = path.join(scratch(), 'config');
  fs.mkdirSync(config, { mode: 0o700 });
  // Their directory, that they could empty or refill at will.
  const theirs = sharedTempDir('lstest-theirs-');
  dirs.push(theirs);
  fs.chownSync(theirs, peer.uid, peer.gid);
  fs.chmodSync(theirs, 0o755);
  fs.symlinkSync(theirs, path.join(config, 'localsocket'));
  assert.equal(await outcome(config), 'ACCESS_DENIED: key directory refused: it is a symbolic link');
  assert.deepEqual(fs.readdirSync(theirs), []);
});

test('a key directory owned by another user: ACCESS_DENIED, nothing created there', { skip: secondUser }, async () => {
  const peer = unprivilegedUser()!;
  const config = path.join(scratch(), 'config');
  const keyDir = path.join(config, 'localsocket');
  fs.mkdirSync(keyDir, { recursive: true, mode: 0o700 });
  fs.chownSync(keyDir, peer.uid, peer.gid);
  assert.equal(await outcome(config), 'ACCESS_DENIED: key directory refused: it belongs to another user');
  assert.deepEqual(fs.readdirSync(keyDir), []);
});

for (const [who, mode] of [['its group', 0o770], ['every user', 0o757]] as const) {
  test(`a key directory ${who} can write to: ACCESS_DENIED, nothing created there`, { skip: unix }, async () => {
    const config = path.join(scratch(), 'config');
    const keyDir = path.join(config, 'localsocket');
    fs.mkdirSync(keyDir, { recursive: true });
    fs.chmodSync(keyDir, mode);
    assert.equal(await outcome(config), 'ACCESS_DENIED: key directory refused: others can write to it');
    assert.deepEqual(fs.readdirSync(keyDir), []);
  });
}

test('a keyFile in a directory others can write to is refused even when the file itself is private', { skip: unix }, async () => {
  const shared = scratch();
  fs.chmodSync(shared, 0o777);
  const keyFile = path.join(shared, 'key');
  fs.writeFileSync(keyFile, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
  assert.equal(await outcome(path.join(scratch(), 'config'), keyFile), 'ACCESS_DENIED: key directory refused: others can write to it');
});

test('a safe key directory (ours, 0700) is used: the key is created inside it', { skip: unix }, async () => {
  const config = path.join(scratch(), 'config');
  assert.equal(await outcome(config), 'listening');
  const keyDir = path.join(config, 'localsocket');
  assert.ok(fs.readdirSync(keyDir).includes('key'));
  assert.equal(fs.statSync(keyDir).mode & 0o777, 0o700);
});

test('a key of ours in a root-owned directory (like /etc/myapp) is accepted, as ssh accepts root-owned key directories', { skip: secondUser }, async () => {
  const peer = unprivilegedUser()!;
  // Root's directory, readable by all; the key in it belongs to the other user, who runs the server.
  const rootDir = sharedTempDir('lstest-rootdir-');
  dirs.push(rootDir);
  const keyFile = path.join(rootDir, 'key');
  fs.writeFileSync(keyFile, `${'cd'.repeat(32)}\n`, { mode: 0o600 });
  fs.chownSync(keyFile, peer.uid, peer.gid);
  const theirs = sharedTempDir('lstest-peerhome-');
  dirs.push(theirs);
  fs.chownSync(theirs, peer.uid, peer.gid);
  const env = { XDG_CONFIG_HOME: path.join(theirs, 'config'), TMPDIR: theirs };
  const result = await finished(runFixture('key-open.js', [keyFile], { asUser: peer, env }), 15_000);
  assert.equal(result.stdout.trim(), 'listening', result.stderr);
});
