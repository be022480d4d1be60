/**
 * The private directory dials go through keeps its checked descriptor between dials
 * (openPrivateDirForDial): one lstat per dial instead of open + fstat + close. Each dial must
 * still see what a fresh open and check would: the directory replaced, made unsafe, removed or
 * swapped for a link.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { LocalSocketError } from '../src/index.js';
import { openPrivateDirForDial } from '../src/endpoint/private-dir.js';
import { isLinux, openFdCount, tempDir } from './helpers.js';

const skip = !isLinux && 'the descriptor is kept on Linux only (/proc/self/fd); elsewhere the directory is checked by path at each dial';
const roots: string[] = [];
after(() => {
  for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
});

function freshPrivateDir(): string {
  const root = tempDir();
  roots.push(root);
  const dir = path.join(root, 'private');
  fs.mkdirSync(dir, { mode: 0o700 });
  return dir;
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LocalSocketError, String(err));
    return err.code;
  }
  return 'no error';
}

const uid = process.getuid?.();

test('dials reuse one checked descriptor: no descriptor per dial', { skip }, () => {
  const dir = freshPrivateDir();
  const first = openPrivateDirForDial(dir, uid);
  const fds = openFdCount();
  for (let i = 0; i < 20; i++) {
    const again = openPrivateDirForDial(dir, uid);
    assert.equal(again.reach, first.reach, 'the same descriptor');
    again.close(); // does nothing: the descriptor stays for the next dial
  }
  assert.equal(openFdCount(), fds);
  assert.equal(fs.statSync(first.reach).ino, fs.statSync(dir).ino, 'the descriptor is the directory');
});

test('a replaced directory is opened and checked afresh: the next dial reaches the new one', { skip }, () => {
  const dir = freshPrivateDir();
  const before = openPrivateDirForDial(dir, uid);
  const fds = openFdCount();
  fs.renameSync(dir, `${dir}-old`);
  fs.mkdirSync(dir, { mode: 0o700 });
  const after = openPrivateDirForDial(dir, uid);
  assert.equal(fs.statSync(after.reach).ino, fs.statSync(dir).ino, 'reaches the new directory');
  assert.notEqual(fs.statSync(after.reach).ino, fs.statSync(`${dir}-old`).ino);
  assert.equal(openFdCount(), fds, 'the old descriptor was closed');
  void before;
});

test('a directory made unsafe, removed or swapped for a link is refused as a fresh check refuses it', { skip }, () => {
  const dir = freshPrivateDir();
  openPrivateDirForDial(dir, uid);
  fs.chmodSync(dir, 0o777);
  assert.equal(code(() => openPrivateDirForDial(dir, uid)), 'ACCESS_DENIED', 'writable by others');
  fs.chmodSync(dir, 0o700);
  assert.equal(code(() => openPrivateDirForDial(dir, uid)), 'no error', 'safe again');
  if (uid === 0) {
    // Owned by someone else (root can chown; others cannot test this).
    fs.chownSync(dir, 4242, 4242);
    assert.equal(code(() => openPrivateDirForDial(dir, uid)), 'ACCESS_DENIED', 'another owner');
    fs.chownSync(dir, 0, 0);
  }
  fs.renameSync(dir, `${dir}-real`);
  fs.symlinkSync(`${dir}-real`, dir);
  assert.equal(code(() => openPrivateDirForDial(dir, uid)), 'ACCESS_DENIED', 'a symbolic link');
  fs.rmSync(dir);
  assert.equal(code(() => openPrivateDirForDial(dir, uid)), 'SERVER_NOT_FOUND', 'removed');
});
