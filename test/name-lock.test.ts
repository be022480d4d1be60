/**
 * The start-up lock of a full-path server: it lives under the user's own
 * config directory (nothing in the temp directory), a live holder is waited
 * for and never removed, and a holder that died (its socket refuses
 * connections) is reclaimed at once, with nothing left behind.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { listen } from '../src/index.js';
import { finished, isLinux, tempDir, waitForLine } from './helpers.js';

const dirs: string[] = [];
after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

const skip = !isLinux && 'the socket-in-a-directory lock is Linux-only (elsewhere it is a mkdir lock)';

/** The lock directory for `socketPath`, as the library names it under $XDG_CONFIG_HOME. */
function lockFor(socketPath: string): string {
  const key = createHash('sha256').update(socketPath).digest('hex').slice(0, 32);
  return path.join(process.env.XDG_CONFIG_HOME!, 'localsocket', 'locks', key);
}

/** A process listening on `name` inside `dir` (bound relative to its working directory), then running `more`. */
function holdInside(dir: string, name: string, more: string): ChildProcess {
  const code = `const server = require('net').createServer((c) => c.destroy()).listen(${JSON.stringify(name)}, () => console.log('holding')); ${more}`;
  return spawn(process.execPath, ['-e', code], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
}

function scratch(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

test('a full-path server takes its lock under $XDG_CONFIG_HOME/localsocket/locks, 0700, and leaves no lock behind', { skip }, async () => {
  const target = path.join(scratch(), 'app.sock');
  const server = await listen(target);
  await server.close();
  const locks = path.dirname(lockFor(target));
  assert.equal(fs.statSync(locks).mode & 0o777, 0o700);
  assert.equal(fs.statSync(path.dirname(locks)).mode & 0o777, 0o700);
  assert.equal(fs.existsSync(lockFor(target)), false, 'released');
  assert.deepEqual(fs.readdirSync(locks).filter((e) => e.startsWith('.take-')), [], 'no staging directory left');
});

test('a live holder of the lock is waited for, never removed; once it lets go the server starts', { skip }, async () => {
  const target = path.join(scratch(), 'app.sock');
  const lock = lockFor(target);
  fs.mkdirSync(lock, { recursive: true, mode: 0o700 });
  // A holder in another process, bound by a relative name from inside the lock: the full path may
  // pass sun_path's 108 bytes in a deep temp directory, and net would truncate it without a word.
  // Its release is the library's: remove its socket, then rmdir() the lock (which fails, harmlessly,
  // once a waiting server has taken it over).
  const release = `server.close(() => { try { require('fs').rmdirSync(process.cwd()); } catch {} })`;
  const holder = holdInside(lock, 'holder.sock', `process.stdin.on('end', () => ${release}); process.stdin.resume()`);
  await waitForLine(holder, /^holding/);
  let started = false;
  const starting = listen(target).then((s) => {
    started = true;
    return s;
  });
  // Give the starting server every chance to (wrongly) take the lock: it keeps probing a live holder.
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(started, false, 'not started while the lock is held');
  assert.ok(fs.lstatSync(path.join(lock, 'holder.sock')).isSocket(), 'the live holder is left alone');
  holder.stdin!.end(); // it lets go of the lock and exits
  await finished(holder);
  const server = await starting;
  await server.close();
});

test('a lock whose holder was killed (its socket refuses) is reclaimed at once', { skip }, async () => {
  const target = path.join(scratch(), 'app.sock');
  const lock = lockFor(target);
  fs.mkdirSync(lock, { recursive: true, mode: 0o700 });
  const dead = path.join(lock, 'dead.sock');
  const child = holdInside(lock, 'dead.sock', '');
  await waitForLine(child, /^holding/);
  child.kill('SIGKILL');
  await finished(child).catch(() => {});
  assert.ok(fs.lstatSync(dead).isSocket(), 'the dead holder left its socket');
  // Well within the lock's own wait (5 s): the dead socket is proven dead and removed, not waited out.
  const server = await listen(target);
  await server.close();
  assert.equal(fs.existsSync(lock), false, 'the dead lock is gone');
});
