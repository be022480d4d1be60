/**
 * Error mapping: every OS error the tables know maps to its documented
 * code, per operation where the meaning differs; anything else is UNKNOWN; the
 * wrapped error keeps the original as `cause` and says nothing about internals.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, test } from 'node:test';
import { connect, ErrorCodes, listen, isLocalSocketError, LocalSocketError, type ErrorCode } from '../src/index.js';
import {
  codeForSystemError,
  ERRNO_TABLE,
  fromSystemError,
  localError,
  messageFor,
  WIN32_NAMES,
  WINDOWS_TABLE,
  type Operation,
} from '../src/error-map.js';
import { isWindows, tempDir } from './helpers.js';

/** The error table, row by row: each cause it names and the code it gives. */
const NAMED_CAUSES: ReadonlyArray<[string, ErrorCode]> = [
  ['ENOENT', 'SERVER_NOT_FOUND'],
  ['ERROR_FILE_NOT_FOUND', 'SERVER_NOT_FOUND'],
  ['ECONNREFUSED', 'CONNECTION_REFUSED'],
  ['ECONNRESET', 'CONNECTION_ERROR'],
  ['EPIPE', 'CONNECTION_ERROR'],
  ['ERROR_BROKEN_PIPE', 'CONNECTION_ERROR'],
  ['EACCES', 'ACCESS_DENIED'],
  ['EPERM', 'ACCESS_DENIED'],
  ['ERROR_ACCESS_DENIED', 'ACCESS_DENIED'],
  ['EMFILE', 'RESOURCE_EXHAUSTED'],
  ['ENFILE', 'RESOURCE_EXHAUSTED'],
  ['ENOBUFS', 'RESOURCE_EXHAUSTED'],
  ['ETIMEDOUT', 'TIMEOUT'],
  ['EADDRINUSE', 'ADDRESS_IN_USE'],
];

/** Every Unix errno the library knows, with the error code of its typical cause. */
const EXPECTED_ERRNO: Readonly<Record<string, ErrorCode>> = {
  // SERVER_NOT_FOUND: no such name
  ENOENT: 'SERVER_NOT_FOUND',
  ENOTDIR: 'SERVER_NOT_FOUND',
  // CONNECTION_REFUSED: stale socket, backlog full / busy, not a socket we can talk to
  ECONNREFUSED: 'CONNECTION_REFUSED',
  EAGAIN: 'CONNECTION_REFUSED',
  EWOULDBLOCK: 'CONNECTION_REFUSED',
  EBUSY: 'CONNECTION_REFUSED',
  ENOTSOCK: 'CONNECTION_REFUSED',
  EPROTOTYPE: 'CONNECTION_REFUSED',
  // CONNECTION_ERROR: the connection broke
  ECONNRESET: 'CONNECTION_ERROR',
  ECONNABORTED: 'CONNECTION_ERROR',
  EPIPE: 'CONNECTION_ERROR',
  ENOTCONN: 'CONNECTION_ERROR',
  // PEER_CLOSED
  EOF: 'PEER_CLOSED',
  // ACCESS_DENIED: permissions
  EACCES: 'ACCESS_DENIED',
  EPERM: 'ACCESS_DENIED',
  EROFS: 'ACCESS_DENIED',
  // RESOURCE_EXHAUSTED
  EMFILE: 'RESOURCE_EXHAUSTED',
  ENFILE: 'RESOURCE_EXHAUSTED',
  ENOBUFS: 'RESOURCE_EXHAUSTED',
  ENOMEM: 'RESOURCE_EXHAUSTED',
  ENOSPC: 'RESOURCE_EXHAUSTED',
  // TIMEOUT
  ETIMEDOUT: 'TIMEOUT',
  // ADDRESS_IN_USE
  EADDRINUSE: 'ADDRESS_IN_USE',
  EEXIST: 'ADDRESS_IN_USE',
  // INVALID_NAME: illegal or too long a name
  ENAMETOOLONG: 'INVALID_NAME',
  EINVAL: 'INVALID_NAME',
  ELOOP: 'INVALID_NAME',
  EISDIR: 'INVALID_NAME',
  // UNSUPPORTED
  EAFNOSUPPORT: 'UNSUPPORTED',
  ENOTSUP: 'UNSUPPORTED',
  EOPNOTSUPP: 'UNSUPPORTED',
  ENOSYS: 'UNSUPPORTED',
  // ABORTED
  ECANCELED: 'ABORTED',
  ABORT_ERR: 'ABORTED',
};

/** Every Win32 error the library knows (winerror.h numbers), with its code. */
const EXPECTED_WIN32: ReadonlyArray<[name: string, errno: number, code: ErrorCode]> = [
  ['ERROR_FILE_NOT_FOUND', 2, 'SERVER_NOT_FOUND'],
  ['ERROR_PATH_NOT_FOUND', 3, 'SERVER_NOT_FOUND'],
  ['ERROR_TOO_MANY_OPEN_FILES', 4, 'RESOURCE_EXHAUSTED'],
  ['ERROR_ACCESS_DENIED', 5, 'ACCESS_DENIED'],
  ['ERROR_INVALID_HANDLE', 6, 'INVALID_STATE'],
  ['ERROR_NOT_ENOUGH_MEMORY', 8, 'RESOURCE_EXHAUSTED'],
  ['ERROR_OUTOFMEMORY', 14, 'RESOURCE_EXHAUSTED'],
  ['ERROR_BAD_NETPATH', 53, 'SERVER_NOT_FOUND'],
  ['ERROR_NETNAME_DELETED', 64, 'CONNECTION_ERROR'],
  ['ERROR_BAD_NET_NAME', 67, 'SERVER_NOT_FOUND'],
  ['ERROR_INVALID_PARAMETER', 87, 'INVALID_ARGUMENT'],
  ['ERROR_BROKEN_PIPE', 109, 'CONNECTION_ERROR'],
  ['ERROR_SEM_TIMEOUT', 121, 'TIMEOUT'],
  ['ERROR_INVALID_NAME', 123, 'INVALID_NAME'],
  ['ERROR_BAD_PATHNAME', 161, 'INVALID_NAME'],
  ['ERROR_FILENAME_EXCED_RANGE', 206, 'INVALID_NAME'],
  ['ERROR_BAD_PIPE', 230, 'CONNECTION_ERROR'],
  ['ERROR_PIPE_BUSY', 231, 'CONNECTION_REFUSED'],
  ['ERROR_NO_DATA', 232, 'CONNECTION_ERROR'],
  ['ERROR_PIPE_NOT_CONNECTED', 233, 'CONNECTION_ERROR'],
  ['ERROR_MORE_DATA', 234, 'RESOURCE_EXHAUSTED'],
  ['ERROR_PIPE_CONNECTED', 535, 'CONNECTION_REFUSED'],
  ['ERROR_PIPE_LISTENING', 536, 'CONNECTION_REFUSED'],
  ['ERROR_OPERATION_ABORTED', 995, 'ABORTED'],
  ['ERROR_NO_SYSTEM_RESOURCES', 1450, 'RESOURCE_EXHAUSTED'],
  ['ERROR_TIMEOUT', 1460, 'TIMEOUT'],
];

const OPERATIONS: readonly Operation[] = ['connect', 'listen', 'read', 'write', 'close', 'resolve', 'key', 'accept'];

/** Operation-specific meanings: [operation, errno, code]. */
const OVERRIDES: ReadonlyArray<[Operation, string, ErrorCode]> = [
  // A listen on a path whose directory is missing is a bad name, not a missing server.
  ['listen', 'ENOENT', 'INVALID_NAME'],
  ['listen', 'ENOTDIR', 'INVALID_NAME'],
  ['listen', 'EEXIST', 'ADDRESS_IN_USE'],
  // Once connected, these mean the connection broke.
  ['read', 'ENOENT', 'CONNECTION_ERROR'],
  ['read', 'EAGAIN', 'CONNECTION_ERROR'],
  ['read', 'EBUSY', 'CONNECTION_ERROR'],
  ['write', 'ENOENT', 'CONNECTION_ERROR'],
  ['write', 'EAGAIN', 'CONNECTION_ERROR'],
  ['write', 'EBUSY', 'CONNECTION_ERROR'],
  // The peer going away under an established connection is PEER_CLOSED, as Qt reports it (PeerClosedError):
  // EPIPE (a write after the peer closed), ECONNRESET (it closed with our bytes unread), and on Windows a
  // write cut off by the peer's exit (libuv's EOF) or a broken or closing pipe.
  ...(['read', 'write', 'close'] as const).flatMap((op): Array<[Operation, string, ErrorCode]> =>
    ['EPIPE', 'ECONNRESET', 'EOF', 'ERROR_BROKEN_PIPE', 'ERROR_NO_DATA', 'ERROR_PIPE_NOT_CONNECTED'].map((errno) => [op, errno, 'PEER_CLOSED'])),
  // The key file: missing is a bad argument, an existing one a state problem.
  ['key', 'ENOENT', 'INVALID_ARGUMENT'],
  ['key', 'EEXIST', 'INVALID_STATE'],
  ['key', 'ENOTDIR', 'INVALID_ARGUMENT'],
];

const SECRET_DIR = '/home/alice/.private/run';

/** An error shaped like the ones Node's net and fs raise, full of internals. */
function systemError(code: string, errno = -1, syscall = 'connect'): NodeJS.ErrnoException {
  const err = new Error(`${syscall} ${code} ${SECRET_DIR}/app.sock`) as NodeJS.ErrnoException & { address?: string };
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  err.path = `${SECRET_DIR}/app.sock`;
  err.address = `${SECRET_DIR}/app.sock`;
  return err;
}

/** What a short, internals-free message looks like. */
function assertCleanMessage(message: string, context: string): void {
  assert.ok(message.length > 0 && message.length <= 120, `${context}: message length ${message.length}`);
  assert.ok(!message.includes('\n'), `${context}: single line`);
  assert.doesNotMatch(message, /\bE[A-Z0-9_]{2,}\b/, `${context}: no errno name in "${message}"`);
  assert.doesNotMatch(message, /ERROR_[A-Z_]+/, `${context}: no Win32 name in "${message}"`);
  assert.doesNotMatch(message, /ABORT_ERR|errno|syscall/i, `${context}: no internals in "${message}"`);
  assert.doesNotMatch(message, /[\\/]/, `${context}: no path in "${message}"`);
  assert.doesNotMatch(message, /\bat .*:\d+:\d+/, `${context}: no stack frame in "${message}"`);
  assert.ok(!message.includes('alice'), `${context}: nothing of the original message`);
}

describe('the Unix errno table', () => {
  test('holds exactly the errno names this test documents (no entry untested)', () => {
    assert.deepEqual(Object.keys(ERRNO_TABLE).sort(), Object.keys(EXPECTED_ERRNO).sort());
  });

  test('every errno maps to its documented code (table, connect and fromSystemError)', () => {
    for (const [errno, expected] of Object.entries(EXPECTED_ERRNO)) {
      assert.equal(ERRNO_TABLE[errno], expected, `table ${errno}`);
      assert.equal(codeForSystemError(systemError(errno), 'connect'), expected, `connect ${errno}`);
      const wrapped = fromSystemError(systemError(errno), 'connect');
      assert.equal(wrapped.code, expected, `fromSystemError ${errno}`);
    }
  });

  test('every operation without an override uses the generic table', () => {
    const overridden = new Set(OVERRIDES.map(([op, errno]) => `${op}:${errno}`));
    for (const op of OPERATIONS) {
      for (const [errno, expected] of Object.entries(EXPECTED_ERRNO)) {
        if (overridden.has(`${op}:${errno}`)) continue;
        assert.equal(codeForSystemError(systemError(errno), op), expected, `${op} ${errno}`);
      }
    }
  });

  test('each named cause maps to its code', () => {
    for (const [name, expected] of NAMED_CAUSES) {
      assert.equal(codeForSystemError({ code: name }, 'connect'), expected, name);
    }
  });
});

describe('operation-specific meanings', () => {
  test('each override applies to its operation only', () => {
    for (const [op, errno, expected] of OVERRIDES) {
      assert.equal(codeForSystemError(systemError(errno), op), expected, `${op} ${errno}`);
      assert.equal(fromSystemError(systemError(errno), op).code, expected, `${op} ${errno} wrapped`);
    }
    // The same errno on connect keeps its generic meaning.
    assert.equal(codeForSystemError({ code: 'ENOENT' }, 'connect'), 'SERVER_NOT_FOUND');
    assert.equal(codeForSystemError({ code: 'EAGAIN' }, 'connect'), 'CONNECTION_REFUSED');
    assert.equal(codeForSystemError({ code: 'EEXIST' }, 'connect'), 'ADDRESS_IN_USE');
    assert.equal(codeForSystemError({ code: 'EOF' }, 'read'), 'PEER_CLOSED');
  });

  test('a real listen in a missing directory is INVALID_NAME; a real connect there is SERVER_NOT_FOUND', { skip: isWindows && 'named pipes have no directories' }, async () => {
    const dir = tempDir();
    try {
      const missing = path.join(dir, 'no-such-dir', 'x.sock');
      let fsErr: unknown;
      try {
        fs.mkdtempSync(path.join(path.dirname(missing), '.x-'));
      } catch (err) {
        fsErr = err;
      }
      assert.equal((fsErr as NodeJS.ErrnoException).code, 'ENOENT');
      assert.equal(fromSystemError(fsErr, 'listen').code, 'INVALID_NAME');
      assert.equal(fromSystemError(fsErr, 'connect').code, 'SERVER_NOT_FOUND');
      await assert.rejects(listen(missing), (e: unknown) => {
        assert.ok(isLocalSocketError(e, 'INVALID_NAME'), String(e));
        assertCleanMessage(e.message, 'listen missing');
        return true;
      });
      await assert.rejects(connect(missing, { timeout: 1000 }), (e: unknown) => {
        assert.ok(isLocalSocketError(e, 'SERVER_NOT_FOUND'), String(e));
        assertCleanMessage(e.message, 'connect missing');
        return true;
      });
      assert.equal(fs.existsSync(path.dirname(missing)), false, 'listen did not create the directory');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the Windows tables (unit-tested on every platform)', () => {
  test('WIN32_NAMES and WINDOWS_TABLE hold exactly the documented entries', () => {
    assert.deepEqual(
      Object.entries(WIN32_NAMES).sort(([a], [b]) => a.localeCompare(b)),
      EXPECTED_WIN32.map(([name, errno]) => [name, errno] as [string, number]).sort(([a], [b]) => a.localeCompare(b)),
    );
    assert.deepEqual(
      Object.keys(WINDOWS_TABLE).map(Number).sort((a, b) => a - b),
      EXPECTED_WIN32.map(([, errno]) => errno).sort((a, b) => a - b),
    );
  });

  test('every Win32 code maps to its documented code, by number and by name', () => {
    for (const [name, errno, expected] of EXPECTED_WIN32) {
      assert.equal(WINDOWS_TABLE[errno], expected, `table ${name}`);
      // A raw number next to an unknown name (how other layers report Win32 codes).
      assert.equal(codeForSystemError({ errno }, 'connect'), expected, `errno ${errno}`);
      assert.equal(codeForSystemError({ code: 'UNKNOWN', errno }, 'accept'), expected, `errno ${errno} with code UNKNOWN`);
      // The symbolic name.
      assert.equal(codeForSystemError({ code: name }, 'connect'), expected, `name ${name}`);
      const wrapped = fromSystemError(systemError(name, errno), 'connect');
      assert.equal(wrapped.code, expected, `wrapped ${name}`);
      assertCleanMessage(wrapped.message, name);
    }
  });

  test('on an established connection a broken or closing pipe is PEER_CLOSED (Qt PeerClosedError), by number too', () => {
    for (const op of ['read', 'write', 'close'] as const) {
      for (const errno of [109, 232, 233]) {
        assert.equal(codeForSystemError({ code: 'UNKNOWN', errno }, op), 'PEER_CLOSED', `${op} ${errno}`);
        assert.equal(codeForSystemError({ errno }, op), 'PEER_CLOSED', `${op} ${errno} alone`);
      }
      // A real fault keeps CONNECTION_ERROR.
      assert.equal(codeForSystemError({ errno: 64 }, op), 'CONNECTION_ERROR', `${op} ERROR_NETNAME_DELETED`);
      assert.equal(codeForSystemError({ code: 'ECONNABORTED' }, op), 'CONNECTION_ERROR', `${op} ECONNABORTED`);
    }
    // Before a connection exists, the generic meanings hold.
    assert.equal(codeForSystemError({ code: 'ECONNRESET' }, 'connect'), 'CONNECTION_ERROR');
    assert.equal(codeForSystemError({ errno: 109 }, 'connect'), 'CONNECTION_ERROR');
  });

  test('every Win32 name resolves through WINDOWS_TABLE', () => {
    for (const [name, errno] of Object.entries(WIN32_NAMES)) {
      assert.ok(WINDOWS_TABLE[errno] !== undefined, `${name} (${errno}) has a code`);
    }
  });
});

describe('anything unmapped is UNKNOWN', () => {
  test('unknown names, numbers and shapes', () => {
    const unknowns: unknown[] = [
      { code: 'EWHATEVER' },
      { code: 'ERROR_NOT_A_REAL_ONE' },
      { errno: 99_999 },
      { errno: 0 },
      { code: 'EXDEV', errno: -18 }, // a negative errno is a Unix one: never looked up as Win32
      { code: 42 },
      {},
      new Error('plain'),
      null,
      undefined,
      'ENOENT',
      42,
    ];
    for (const err of unknowns) {
      for (const op of OPERATIONS) {
        assert.equal(codeForSystemError(err, op), 'UNKNOWN', `${op} ${JSON.stringify(err) ?? String(err)}`);
      }
      const wrapped = fromSystemError(err, 'connect');
      assert.equal(wrapped.code, 'UNKNOWN');
      assertCleanMessage(wrapped.message, String(err));
      assert.equal(wrapped.cause, err);
    }
  });

  test('a negative Unix errno that happens to equal a Win32 number is not read as Win32', () => {
    assert.equal(codeForSystemError({ code: 'ESOMETHING', errno: -2 }, 'connect'), 'UNKNOWN');
    assert.equal(codeForSystemError({ code: 'ESOMETHING', errno: 2 }, 'connect'), 'SERVER_NOT_FOUND');
  });

  test('a LocalSocketError passes through unchanged', () => {
    const original = new LocalSocketError('AUTH_FAILED', 'authentication failed');
    assert.equal(codeForSystemError(original, 'read'), 'AUTH_FAILED');
    assert.equal(fromSystemError(original, 'connect'), original);
  });
});

describe('fromSystemError', () => {
  test('keeps the original as cause, with a short message free of internals (every errno, every operation)', () => {
    for (const op of OPERATIONS) {
      for (const errno of [...Object.keys(EXPECTED_ERRNO), 'EWHATEVER']) {
        const original = systemError(errno, -1, op);
        const wrapped = fromSystemError(original, op);
        assert.ok(wrapped instanceof LocalSocketError);
        assert.equal(wrapped.cause, original, `${op} ${errno}: cause is the very error`);
        assertCleanMessage(wrapped.message, `${op} ${errno}`);
        assert.ok(!wrapped.message.includes(original.message));
        assert.equal(wrapped.message, messageFor(wrapped.code, op));
      }
    }
  });

  test('wraps real OS errors from fs and net the same way', async () => {
    const dir = tempDir();
    try {
      let fsErr: unknown;
      try {
        fs.lstatSync(path.join(dir, 'secret-name'));
      } catch (err) {
        fsErr = err;
      }
      const fromFs = fromSystemError(fsErr, 'connect');
      assert.equal(fromFs.code, 'SERVER_NOT_FOUND');
      assert.equal(fromFs.cause, fsErr);
      assertCleanMessage(fromFs.message, 'fs');
      assert.ok(!fromFs.message.includes('secret-name'));

      // A regular file where a socket should be: connecting is refused. (Windows: no file can stand
      // where a pipe is; a pipe name nobody listens on gives the real net error instead.)
      const file = isWindows ? `\\\\.\\pipe\\${path.basename(dir)}-missing` : path.join(dir, 'not-a-socket');
      if (!isWindows) fs.writeFileSync(file, 'x');
      const netErr = await new Promise<Error>((resolve) => {
        const s = net.createConnection(file);
        s.once('error', resolve);
      });
      const fromNet = fromSystemError(netErr, 'connect');
      assert.equal(fromNet.code, codeForSystemError(netErr, 'connect'));
      assert.notEqual(fromNet.code, 'UNKNOWN', `${(netErr as NodeJS.ErrnoException).code} is mapped`);
      assert.equal(fromNet.cause, netErr);
      assertCleanMessage(fromNet.message, 'net');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the stack of the wrapped error does not embed the original message', () => {
    const wrapped = fromSystemError(systemError('EACCES'), 'connect');
    assert.ok(!String(wrapped.stack).includes('alice'));
    assert.ok(!String(wrapped).includes('alice'));
  });
});

describe('LocalSocketError', () => {
  test('is an Error named LocalSocketError with a stable code', () => {
    const err = new LocalSocketError('TIMEOUT', 'connect: timed out');
    assert.ok(err instanceof Error);
    assert.ok(err instanceof LocalSocketError);
    assert.equal(err.name, 'LocalSocketError');
    assert.equal(err.code, 'TIMEOUT');
    assert.equal(err.message, 'connect: timed out');
    assert.equal(String(err), 'LocalSocketError: connect: timed out');
    assert.match(String(err.stack), /^LocalSocketError: connect: timed out/);
    assert.equal(Object.prototype.hasOwnProperty.call(err, 'cause'), false, 'no cause unless given');
    const withCause = new LocalSocketError('UNKNOWN', 'x', { cause: 'root' });
    assert.equal(withCause.cause, 'root');
    assert.equal(withCause.name, 'LocalSocketError');
  });

  test('isLocalSocketError checks the type and, if given, the code', () => {
    const err = new LocalSocketError('ABORTED', 'aborted');
    assert.equal(isLocalSocketError(err), true);
    assert.equal(isLocalSocketError(err, 'ABORTED'), true);
    assert.equal(isLocalSocketError(err, 'TIMEOUT'), false);
    assert.equal(isLocalSocketError(new Error('x')), false);
    assert.equal(isLocalSocketError({ code: 'ABORTED', name: 'LocalSocketError' }), false);
    assert.equal(isLocalSocketError(null), false);
  });

  test('ErrorCodes is exactly the documented list of codes, and every code has a short clean message', () => {
    assert.deepEqual([...ErrorCodes].sort(), [
      'ABORTED',
      'ACCESS_DENIED',
      'ADDRESS_IN_USE',
      'AUTH_FAILED',
      'CONNECTION_ERROR',
      'CONNECTION_REFUSED',
      'INVALID_ARGUMENT',
      'INVALID_NAME',
      'INVALID_STATE',
      'MESSAGE_TOO_LARGE',
      'PEER_CLOSED',
      'PROTOCOL_ERROR',
      'REMOTE_ERROR',
      'RESOURCE_EXHAUSTED',
      'SERVER_NOT_FOUND',
      'TIMEOUT',
      'UNKNOWN',
      'UNSUPPORTED',
    ]);
    const messages = new Set<string>();
    for (const c of ErrorCodes) {
      assertCleanMessage(messageFor(c), c);
      assertCleanMessage(messageFor(c, 'connect'), c);
      messages.add(messageFor(c));
      const local = localError(c, 'write');
      assert.equal(local.code, c);
      assert.equal(local.cause, undefined);
    }
    assert.equal(messages.size, ErrorCodes.length, 'every code has its own message');
  });

  test('every mapping result is a known code', () => {
    const known = new Set<string>(ErrorCodes);
    for (const c of Object.values(ERRNO_TABLE)) assert.ok(known.has(c), c);
    for (const c of Object.values(WINDOWS_TABLE)) assert.ok(known.has(c), c);
  });
});
