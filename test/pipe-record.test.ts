/**
 * The Windows pipe rendezvous record, its pure parts: the exact bytes of a
 * record, the strict parser, where a name's record lives and which names use
 * one, and the checks made when a record file is read (the same as for a key
 * file). These run on every platform; the behaviour with real pipes is in
 * windows-names.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import {
  encodeRecord, filesOf, MAX_RECORD_BYTES, parseRecord, publishedPipe, readRecord, recordDirectory, recordFile,
} from '../src/endpoint/pipe-record.js';
import { LocalSocketError } from '../src/errors.js';
import { resolveName } from '../src/endpoint/names.js';
import { currentPlatform, type PlatformInfo } from '../src/endpoint/platform.js';
import { isLinux, isWindows, isWine, tempDir, unprivilegedUser } from './helpers.js';

const HEX = '0123456789abcdef0123456789abcdef';
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

function windows(env: Record<string, string> = { LOCALAPPDATA: 'C:\\Users\\ann\\AppData\\Local' }): PlatformInfo {
  return { platform: 'win32', env, tmpdir: 'C:\\Temp', uid: undefined, runtimeDirIsSafe: () => false };
}

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof LocalSocketError, `a LocalSocketError, not ${String(err)}`);
    return err.code;
  }
  assert.fail('did not throw');
}

describe('record format', () => {
  test('test vector: the exact bytes of a record', () => {
    const bytes = encodeRecord(HEX, 4242);
    assert.equal(
      bytes.toString('hex'),
      Buffer.from(`localsocket-pipe 1\npipe \\\\.\\pipe\\localsocket-${HEX}\npid 4242\n`, 'ascii').toString('hex'),
    );
    assert.equal(bytes.toString('latin1'), 'localsocket-pipe 1\npipe \\\\.\\pipe\\localsocket-0123456789abcdef0123456789abcdef\npid 4242\n');
    assert.equal(bytes.length, 19 + 5 + 9 + 12 + 32 + 1 + 4 + 4 + 1);
    assert.deepEqual(parseRecord(bytes), { hex: HEX, pipe: `\\\\.\\pipe\\localsocket-${HEX}`, pid: 4242 });
  });

  test(`the longest record (10-digit pid) is exactly MAX_RECORD_BYTES = ${MAX_RECORD_BYTES}`, () => {
    assert.equal(MAX_RECORD_BYTES, 93);
    const longest = encodeRecord(HEX, 4_294_967_295);
    assert.equal(longest.length, MAX_RECORD_BYTES);
    assert.equal(parseRecord(longest).pid, 4_294_967_295);
    assert.throws(() => encodeRecord(HEX, 10_000_000_000), RangeError);
    assert.throws(() => encodeRecord(HEX.toUpperCase(), 1), RangeError);
  });

  test('anything but the exact format is ACCESS_DENIED', () => {
    const good = encodeRecord(HEX, 7).toString('latin1');
    const bad = [
      '',
      good.slice(0, -1), // no final LF
      `${good}\n`, // an extra line
      good.replace('\n', '\r\n'), // CRLF
      good.replace('localsocket-pipe 1', 'localsocket-pipe 2'), // another version
      good.replace(HEX, HEX.toUpperCase()),
      good.replace(HEX, HEX.slice(1)), // 31 digits
      good.replace(HEX, `${HEX}0`), // 33 digits
      good.replace('localsocket-', 'myapp-'), // not one of our pipe names
      good.replace('\\\\.\\pipe\\', '\\\\host\\pipe\\'), // another host
      good.replace('pid 7', 'pid 07'),
      good.replace('pid 7', 'pid 0'),
      good.replace('pid 7', 'pid -7'),
      good.replace('pid 7', 'pid 12345678901'), // 11 digits
      good.replace('pipe ', 'pipe  '),
      ` ${good}`,
      good.replace('pid', 'PID'),
      `${good.slice(0, -1)}\0`,
    ];
    for (const text of bad) assert.equal(code(() => parseRecord(Buffer.from(text, 'latin1'))), 'ACCESS_DENIED', JSON.stringify(text));
    assert.equal(code(() => parseRecord(Buffer.alloc(MAX_RECORD_BYTES + 1, 0x61))), 'ACCESS_DENIED');
  });
});

describe('which names use a record, and where it lives', () => {
  test('a short name with auth resolves to its record file in %LOCALAPPDATA%\\localsocket\\pipes', () => {
    const p = windows();
    const endpoint = resolveName('myapp', {}, p);
    assert.equal(endpoint.kind, 'pipe');
    assert.equal(endpoint.record, true);
    assert.equal(recordDirectory(p), 'C:\\Users\\ann\\AppData\\Local\\localsocket\\pipes');
    assert.equal(endpoint.address, recordFile('myapp', p));
    assert.match(endpoint.address, /^C:\\Users\\ann\\AppData\\Local\\localsocket\\pipes\\myapp-[0-9a-f]{32}\.pipe$/);
    assert.deepEqual(resolveName('myapp', { auth: true }, p), endpoint);
  });

  test('names that differ only in case share a record (pipe names are case-insensitive); others do not', () => {
    const p = windows();
    assert.equal(recordFile('MyApp', p), recordFile('myapp', p));
    assert.notEqual(recordFile('myapp2', p), recordFile('myapp', p));
    // Characters a file name cannot hold are folded in the readable part only; the hash keeps the names apart.
    assert.notEqual(recordFile('a:b', p), recordFile('a*b', p));
    assert.match(path.win32.basename(recordFile('CON', p)), /^con-[0-9a-f]{32}\.pipe$/, 'never a reserved device name');
  });

  test('full pipe names, qtCompatible names and raw mode keep the plain pipe name', () => {
    const p = windows();
    assert.deepEqual(resolveName('myapp', { auth: false }, p), { kind: 'pipe', name: 'myapp', address: '\\\\.\\pipe\\myapp', longPath: false });
    assert.deepEqual(resolveName('myapp', { qtCompatible: true }, p), { kind: 'pipe', name: 'myapp', address: '\\\\.\\pipe\\myapp', longPath: false });
    const full = '\\\\.\\pipe\\myapp';
    assert.deepEqual(resolveName(full, {}, p), { kind: 'pipe', name: full, address: full, longPath: false });
  });

  test('a name is checked the same way with or without a record (same length limit, same refusals)', () => {
    const p = windows();
    const longest = 'n'.repeat(256 - '\\\\.\\pipe\\'.length);
    assert.equal(resolveName(longest, {}, p).record, true);
    assert.equal(code(() => resolveName(`${longest}n`, {}, p)), 'INVALID_NAME');
    assert.equal(code(() => resolveName(`${longest}n`, { auth: false }, p)), 'INVALID_NAME');
    for (const bad of ['a\\b', 'a/b', '.', '..', '']) assert.equal(code(() => resolveName(bad, {}, p)), 'INVALID_NAME', bad);
  });

  test('without LOCALAPPDATA the record lives under USERPROFILE\\AppData\\Local', () => {
    assert.equal(recordDirectory(windows({ USERPROFILE: 'C:\\Users\\bob' })), 'C:\\Users\\bob\\AppData\\Local\\localsocket\\pipes');
  });

  test('Unix names never use a record', () => {
    const unix: PlatformInfo = { platform: 'linux', env: {}, tmpdir: '/tmp', uid: 1000, runtimeDirIsSafe: () => false };
    assert.equal(resolveName('myapp', {}, unix).record, undefined);
  });

  test('the files of one name: lock, liveness locks per pipe, temp files, all beside the record', () => {
    const record = recordFile('myapp', windows());
    const files = filesOf(record);
    const stem = path.win32.basename(record, '.pipe');
    assert.equal(files.dir, recordDirectory(windows()));
    assert.equal(files.lock, path.win32.join(files.dir, `${stem}.lock`));
    assert.equal(files.live(HEX), path.win32.join(files.dir, `${stem}.${HEX}.live`));
    assert.match(files.temp(), new RegExp(`\\\\${stem}\\.[0-9a-f]{16}\\.tmp$`));
    assert.notEqual(files.temp(), files.temp());
    assert.equal(files.isLive(`${stem}.${HEX}.live`), true);
    assert.equal(files.isLive(`other-${stem.slice(6)}.${HEX}.live`), false);
    assert.equal(publishedPipe(HEX), `\\\\.\\pipe\\localsocket-${HEX}`);
  });
});

describe('reading a record file: checked like the key file', () => {
  const p = currentPlatform();
  function recordIn(dir: string, bytes: Buffer | string | null, mode = 0o600): string {
    const pipes = path.join(dir, 'pipes');
    fs.mkdirSync(pipes, { recursive: true, mode: 0o700 });
    const file = path.join(pipes, 'myapp-x.pipe');
    if (bytes !== null) {
      fs.writeFileSync(file, bytes);
      fs.chmodSync(file, mode); // not through the umask
    }
    return file;
  }
  function fresh(): string {
    const dir = tempDir('lsrecord-');
    dirs.push(dir);
    return dir;
  }

  test('a good record is read', () => {
    const file = recordIn(fresh(), encodeRecord(HEX, 99));
    assert.deepEqual(readRecord(file, p), { hex: HEX, pipe: publishedPipe(HEX), pid: 99 });
  });

  test('no record, or no record directory: SERVER_NOT_FOUND', () => {
    const dir = fresh();
    assert.equal(code(() => readRecord(recordIn(dir, null), p)), 'SERVER_NOT_FOUND');
    assert.equal(code(() => readRecord(path.join(dir, 'missing', 'pipes', 'x.pipe'), p)), 'SERVER_NOT_FOUND');
  });

  test('corrupt, empty or oversized content: ACCESS_DENIED', () => {
    assert.equal(code(() => readRecord(recordIn(fresh(), 'garbage\n'), p)), 'ACCESS_DENIED');
    assert.equal(code(() => readRecord(recordIn(fresh(), ''), p)), 'ACCESS_DENIED');
    assert.equal(code(() => readRecord(recordIn(fresh(), Buffer.concat([encodeRecord(HEX, 1), Buffer.alloc(1024 * 1024)])), p)), 'ACCESS_DENIED');
  });

  // A server republishing the record (temp + rename) can replace it between our lstat and our open:
  // under Wine this closed a reconnecting client (ACCESS_DENIED is final) while its server restarted.
  test('a record replaced between the look and the open is looked at again: the new one is read', (t) => {
    const file = recordIn(fresh(), encodeRecord(HEX, 1));
    const next = '89abcdef0123456789abcdef01234567';
    const open = fs.openSync;
    let opens = 0;
    t.mock.method(fs, 'openSync', (...args: Parameters<typeof fs.openSync>) => {
      if (args[0] === file && opens++ === 0) {
        const temp = `${file}.tmp`;
        fs.writeFileSync(temp, encodeRecord(next, 2), { mode: 0o600 });
        fs.renameSync(temp, file); // what publish() does, at the worst moment
      }
      return open(...args);
    });
    assert.deepEqual(readRecord(file, p), { hex: next, pipe: publishedPipe(next), pid: 2 });
    assert.equal(opens, 2, 'looked at twice');
  });

  test('a record replaced at every try: SERVER_NOT_FOUND (retried by callers), never ACCESS_DENIED, nothing left open', (t) => {
    const file = recordIn(fresh(), encodeRecord(HEX, 1));
    const open = fs.openSync;
    const close = fs.closeSync;
    const opened = new Set<number>();
    let opens = 0;
    t.mock.method(fs, 'openSync', (...args: Parameters<typeof fs.openSync>) => {
      if (args[0] !== file) return open(...args);
      opens++;
      const temp = `${file}.tmp`;
      fs.writeFileSync(temp, encodeRecord(HEX, opens), { mode: 0o600 });
      fs.renameSync(temp, file);
      const fd = open(...args);
      opened.add(fd);
      return fd;
    });
    t.mock.method(fs, 'closeSync', (fd: number) => {
      opened.delete(fd);
      return close(fd);
    });
    const err = (() => {
      try {
        readRecord(file, p);
      } catch (e) {
        return e;
      }
      return assert.fail('did not throw');
    })();
    assert.ok(err instanceof LocalSocketError);
    assert.equal(err.code, 'SERVER_NOT_FOUND');
    assert.match(err.message, /being replaced/);
    assert.equal(opens, 3, 'three tries');
    assert.equal(opened.size, 0, 'every descriptor opened was closed');
  });

  test('a directory at the record path: ACCESS_DENIED', () => {
    const file = recordIn(fresh(), null);
    fs.mkdirSync(file);
    assert.equal(code(() => readRecord(file, p)), 'ACCESS_DENIED');
  });

  test('a symbolic link at the record path, or as its directory: ACCESS_DENIED', { skip: isWine && 'Wine divergence: fs.symlinkSync reports success and creates nothing' }, (t) => {
    const dir = fresh();
    const real = recordIn(dir, encodeRecord(HEX, 1));
    const link = path.join(path.dirname(real), 'link.pipe');
    try {
      fs.symlinkSync(real, link);
    } catch (err) {
      // Windows without the symlink privilege or developer mode.
      if (isWindows && (err as NodeJS.ErrnoException).code === 'EPERM') return t.skip('creating symbolic links needs a privilege here');
      throw err;
    }
    assert.equal(code(() => readRecord(link, p)), 'ACCESS_DENIED');
    const linkedDir = path.join(dir, 'linked');
    fs.symlinkSync(path.dirname(real), linkedDir, 'junction');
    assert.equal(code(() => readRecord(path.join(linkedDir, path.basename(real)), p)), 'ACCESS_DENIED');
  });

  test('a FIFO at the record path is refused at once, without blocking', { skip: isWindows && 'no FIFOs at Windows file paths' }, () => {
    const file = recordIn(fresh(), null);
    execFileSync('mkfifo', [file]);
    assert.equal(code(() => readRecord(file, p)), 'ACCESS_DENIED');
  });

  test('a record others can read or write is refused', { skip: isWindows && 'Node cannot read Windows ACLs (the record directory inherits %LOCALAPPDATA%\'s owner-only ACL)' }, () => {
    assert.equal(code(() => readRecord(recordIn(fresh(), encodeRecord(HEX, 1), 0o644), p)), 'ACCESS_DENIED');
    assert.equal(code(() => readRecord(recordIn(fresh(), encodeRecord(HEX, 1), 0o620), p)), 'ACCESS_DENIED');
  });

  test('a record, or its directory, owned by another user is refused', { skip: (!isLinux || !unprivilegedUser()) && 'needs root and useradd (Linux) to make a file owned by another user' }, () => {
    const other = unprivilegedUser()!;
    const dir = fresh();
    const file = recordIn(dir, encodeRecord(HEX, 1));
    fs.chownSync(file, other.uid, other.gid);
    assert.equal(code(() => readRecord(file, p)), 'ACCESS_DENIED');
    fs.chownSync(file, 0, 0);
    fs.chownSync(path.dirname(file), other.uid, other.gid);
    assert.equal(code(() => readRecord(file, p)), 'ACCESS_DENIED');
  });
});
