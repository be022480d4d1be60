/**
 * listen({ fd }) names the path an inherited socket is bound to: the
 * /proc/net/unix parser byte for byte, then real descriptors on Linux.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { endpointOfFd, pathOfInode } from '../src/endpoint/fd-name.js';
import { isLinux, tempDir } from './helpers.js';

const TABLE = [
  'Num       RefCount Protocol Flags    Type St Inode Path',
  '0000000000000000: 00000002 00000000 00010000 0001 01 29012 /tmp/dir/x y.sock',
  '0000000000000000: 00000003 00000000 00000000 0001 03   582',
  '0000000000000000: 00000002 00000000 00010000 0001 01 290 @abstract name',
  '0000000000000000: 00000002 00000000 00010000 0001 01 2901 /tmp/other.sock',
  '',
].join('\n');

describe('pathOfInode (the /proc/net/unix table)', () => {
  test('finds the path of exactly that inode, spaces included', () => {
    assert.equal(pathOfInode(TABLE, '29012'), '/tmp/dir/x y.sock');
    assert.equal(pathOfInode(TABLE, '2901'), '/tmp/other.sock', 'not a prefix match');
    assert.equal(pathOfInode(TABLE, '290'), '@abstract name');
  });

  test('an unnamed socket, an unknown inode, the header and an empty table give null', () => {
    assert.equal(pathOfInode(TABLE, '582'), null);
    assert.equal(pathOfInode(TABLE, '1'), null);
    assert.equal(pathOfInode(TABLE, 'Inode'), null);
    assert.equal(pathOfInode('', '29012'), null);
  });
});

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function fdOf(server: net.Server): number {
  return (server as unknown as { _handle: { fd: number } })._handle.fd;
}

async function listening(options: net.ListenOptions): Promise<net.Server> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(options, resolve));
  return server;
}

describe('endpointOfFd', { skip: !isLinux && 'only Linux says which path a socket is bound to (/proc/net/unix)' }, () => {
  test('a listening socket bound to a path', async () => {
    const d = tempDir('lsfd-');
    dirs.push(d);
    const file = path.join(d, 'bound here.sock');
    const server = await listening({ path: file });
    try {
      assert.deepEqual(endpointOfFd(fdOf(server)), { kind: 'unix', name: file, address: file, longPath: false });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('a listening socket in the abstract namespace', async () => {
    const name = `lsfd-${process.pid}`;
    const server = await listening({ path: `\0${name}` });
    try {
      assert.deepEqual(endpointOfFd(fdOf(server)), { kind: 'abstract', name: `@${name}`, address: `\0${name}`, longPath: false });
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  test('a descriptor that is not a Unix socket, or not open, gives null', () => {
    const d = tempDir('lsfd-');
    dirs.push(d);
    const fd = fs.openSync(path.join(d, 'plain'), 'w');
    try {
      assert.equal(endpointOfFd(fd), null);
    } finally {
      fs.closeSync(fd);
    }
    assert.equal(endpointOfFd(987_654), null);
  });
});
