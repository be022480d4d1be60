/** currentPlatform(): one object while the uid and the environment object stay the same, its other facts read live. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { currentPlatform } from '../src/endpoint/platform.js';

test('the same frozen object on each call, with this process\'s uid and environment', () => {
  const a = currentPlatform();
  assert.equal(currentPlatform(), a);
  assert.ok(Object.isFrozen(a));
  assert.equal(a.uid, typeof process.getuid === 'function' ? process.getuid() : undefined);
  assert.equal(a.env, process.env);
  assert.equal(a.platform, process.platform);
});

test('a replaced process.env gives a new object that reads it', () => {
  const saved = process.env;
  try {
    const before = currentPlatform();
    process.env = { ...saved, XDG_RUNTIME_DIR: '/nowhere' };
    const after = currentPlatform();
    assert.notEqual(after, before);
    assert.equal(after.env, process.env);
    assert.equal(after.env.XDG_RUNTIME_DIR, '/nowhere');
    assert.equal(currentPlatform(), after, 'same environment object: same platform object');
  } finally {
    process.env = saved;
  }
  assert.equal(currentPlatform().env, saved);
});

test('the temp directory is read at each use, not when the object was made', () => {
  const p = currentPlatform();
  // os.tmpdir() reads TMPDIR on Unix and TEMP, then TMP on Windows: all three are set alike.
  const names = ['TMPDIR', 'TEMP', 'TMP'] as const;
  const saved = names.map((n) => process.env[n]);
  const setAll = (value: string): void => {
    for (const n of names) process.env[n] = value;
  };
  try {
    setAll('/tmp/localsocket-platform-test-a');
    assert.equal(p.tmpdir, '/tmp/localsocket-platform-test-a');
    setAll('/tmp/localsocket-platform-test-b');
    assert.equal(currentPlatform(), p);
    assert.equal(p.tmpdir, '/tmp/localsocket-platform-test-b');
  } finally {
    names.forEach((n, i) => {
      if (saved[i] === undefined) delete process.env[n];
      else process.env[n] = saved[i];
    });
  }
});
