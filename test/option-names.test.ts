/**
 * A misspelt option name is refused, not ignored: every public entry point
 * (and the CLI) rejects an unknown name with INVALID_ARGUMENT, naming it and
 * the closest valid name. Options an entry point passes on to another (a
 * message server's to its LocalServer, a reconnecting client's to
 * connectMessages) still work.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, describe, test } from 'node:test';
import {
  connect, connectMessages, connectReconnecting, listen, listenMessages, LocalServer, LocalSocket, LocalSocketError,
  MessageServer, MessageSocket, ReconnectingClient, singleInstance, type PrimaryInstance,
} from '../src/index.js';
import { closestName, editDistance } from '../src/closest-name.js';
import { MAIN } from './cli-helpers.js';
import { pair, rejectsWith, throwsWith } from './connection-helpers.js';
import { finished, uniqueName } from './helpers.js';

const KEY = Buffer.alloc(32, 7);

/** The error names the unknown option and, as the suggestion, `closest`. */
function namesBoth(err: LocalSocketError, unknown: string, closest: string): void {
  assert.equal(err.code, 'INVALID_ARGUMENT');
  assert.ok(err.message.includes(`unknown option "${unknown}"`), err.message);
  assert.ok(err.message.includes(`did you mean "${closest}"`), err.message);
}

/** Options objects as a JavaScript caller (no type checks) would pass them. */
const js = <T>(value: Record<string, unknown>): T => value as T;

describe('the closest valid name', () => {
  test('counts insertions, deletions, substitutions and swapped neighbours as one edit each, ignoring case', () => {
    assert.equal(editDistance('acess', 'access'), 1);
    assert.equal(editDistance('timout', 'timeout'), 1);
    assert.equal(editDistance('tiemout', 'timeout'), 1);
    assert.equal(editDistance('Timeout', 'timeout'), 0);
    assert.equal(editDistance('signal', 'timeout'), 6);
    assert.equal(editDistance('', 'fd'), 2);
  });

  test('is the candidate fewest edits away, the first of equals on a tie', () => {
    assert.equal(closestName('maxReadBufer', ['maxWriteBuffer', 'maxReadBuffer']), 'maxReadBuffer');
    assert.equal(closestName('ab', ['ax', 'xb']), 'ax');
    assert.equal(closestName('anything', []), undefined);
  });

  test('a very long unknown name costs a bounded comparison and is quoted shortened', () => {
    const err = throwsWith(() => new LocalSocket(js({ ['x'.repeat(100_000)]: 1 })), 'INVALID_ARGUMENT');
    assert.ok(err.message.length < 300, `message of ${err.message.length} characters`);
  });
});

describe('LocalServer and listen()', () => {
  test('listen() rejects a misspelt option, even one set to undefined, and binds nothing', async () => {
    const name = uniqueName('opt');
    namesBoth(await rejectsWith(listen(name, js({ acess: 'world' })), 'INVALID_ARGUMENT'), 'acess', 'access');
    namesBoth(await rejectsWith(listen(name, js({ maxConection: undefined })), 'INVALID_ARGUMENT'), 'maxConection', 'maxConnections');
    // The name is still free: nothing was bound.
    const server = await listen(name, { auth: false });
    await server.close();
  });

  test('new LocalServer() throws for a misspelt option', () => {
    namesBoth(throwsWith(() => new LocalServer(js({ maxPendingConnection: 1 })), 'INVALID_ARGUMENT'), 'maxPendingConnection', 'maxPendingConnections');
    namesBoth(throwsWith(() => new LocalServer(js({ KeyFile: 'k' })), 'INVALID_ARGUMENT'), 'KeyFile', 'keyFile');
  });

  test('an inherited descriptor is the name, not an option: { fd } in the options is refused, not ignored', async () => {
    const err = throwsWith(() => new LocalServer(js({ fd: 3 })), 'INVALID_ARGUMENT');
    assert.match(err.message, /unknown option "fd"/);
    assert.match((await rejectsWith(listen(uniqueName('fdopt'), js({ auth: false, fd: 3 })), 'INVALID_ARGUMENT')).message, /unknown option "fd"/);
  });

  test('listen({ fd }) refuses other keys in the name object', async () => {
    namesBoth(await rejectsWith(listen(js({ fd: 3, fdd: 3 }), { auth: false }), 'INVALID_ARGUMENT'), 'fdd', 'fd');
  });

  test('waitForNewConnection() rejects a misspelt option', async () => {
    const server = await listen(uniqueName('opt'), { auth: false });
    try {
      namesBoth(await rejectsWith(server.waitForNewConnection(js({ timout: 10 })), 'INVALID_ARGUMENT'), 'timout', 'timeout');
    } finally {
      await server.close();
    }
  });
});

describe('LocalSocket and connect()', () => {
  test('connect() rejects a misspelt option before reaching a live server', async () => {
    const name = uniqueName('opt');
    const server = await listen(name, { auth: false });
    let arrived = 0;
    server.on('newConnection', () => arrived++);
    try {
      namesBoth(await rejectsWith(connect(name, js({ auth: false, timout: 100 })), 'INVALID_ARGUMENT'), 'timout', 'timeout');
      // The check is not skipped on the way: a correct call connects (and is the only arrival).
      const ok = await connect(name, { auth: false, timeout: 10_000 });
      await server.waitForNewConnection({ timeout: 10_000 });
      assert.equal(arrived, 1);
      ok.abort();
    } finally {
      await server.close();
    }
  });

  test('new LocalSocket() throws and connectToServer() rejects for a misspelt option', async () => {
    namesBoth(throwsWith(() => new LocalSocket(js({ maxReadBufer: 10 })), 'INVALID_ARGUMENT'), 'maxReadBufer', 'maxReadBuffer');
    const socket = new LocalSocket();
    namesBoth(await rejectsWith(socket.connectToServer(uniqueName('opt'), js({ waitForSrever: true })), 'INVALID_ARGUMENT'), 'waitForSrever', 'waitForServer');
  });

  test('every waitFor...() rejects a misspelt option', async () => {
    const p = await pair({ auth: false }, { auth: false });
    try {
      namesBoth(await rejectsWith(p.client.waitForConnected(js({ timeuot: 1 })), 'INVALID_ARGUMENT'), 'timeuot', 'timeout');
      namesBoth(await rejectsWith(p.client.waitForReadyRead(js({ sigal: null })), 'INVALID_ARGUMENT'), 'sigal', 'signal');
      namesBoth(await rejectsWith(p.client.waitForBytesWritten(js({ Timeout: 1 })), 'INVALID_ARGUMENT'), 'Timeout', 'timeout');
      namesBoth(await rejectsWith(p.client.waitForDisconnected(js({ time: 1 })), 'INVALID_ARGUMENT'), 'time', 'timeout');
    } finally {
      await p.close();
    }
  });
});

describe('the message layer', () => {
  test('new MessageSocket() throws and request() rejects for a misspelt option', async () => {
    const p = await pair({ auth: false }, { auth: false });
    try {
      namesBoth(throwsWith(() => new MessageSocket(p.client, js({ maxMesageSize: 10 })), 'INVALID_ARGUMENT'), 'maxMesageSize', 'maxMessageSize');
      const messages = new MessageSocket(p.client);
      namesBoth(await rejectsWith(messages.request('m', null, js({ timout: 10 })), 'INVALID_ARGUMENT'), 'timout', 'timeout');
    } finally {
      await p.close();
    }
  });

  test('connectMessages() rejects a misspelt option; its message options do not reach connect()', async () => {
    const name = uniqueName('opt');
    const server = await listenMessages(name, { auth: false, requestTimeout: 5000, maxMessageSize: 1024 });
    try {
      namesBoth(await rejectsWith(connectMessages(name, js({ auth: false, requestTimout: 10 })), 'INVALID_ARGUMENT'), 'requestTimout', 'requestTimeout');
      server.handle('echo', (params) => params);
      const client = await connectMessages(name, { auth: false, maxMessageSize: 1024, requestTimeout: 5000, timeout: 10_000 });
      assert.deepEqual(await client.request('echo', [1]), [1]);
      await client.close();
    } finally {
      await server.close();
    }
  });

  test('new MessageServer() throws and listenMessages() rejects for a misspelt option', async () => {
    namesBoth(throwsWith(() => new MessageServer(js({ acces: 'user' })), 'INVALID_ARGUMENT'), 'acces', 'access');
    namesBoth(await rejectsWith(listenMessages(uniqueName('opt'), js({ maxMessagesize: 10 })), 'INVALID_ARGUMENT'), 'maxMessagesize', 'maxMessageSize');
  });
});

describe('ReconnectingClient', () => {
  const servers: MessageServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  test('the constructor throws and connectReconnecting() rejects for a misspelt option', async () => {
    namesBoth(throwsWith(() => new ReconnectingClient(uniqueName('opt'), js({ maxDelai: 10 })), 'INVALID_ARGUMENT'), 'maxDelai', 'maxDelay');
    namesBoth(await rejectsWith(connectReconnecting(uniqueName('opt'), js({ intialDelay: 10 })), 'INVALID_ARGUMENT'), 'intialDelay', 'initialDelay');
  });

  test('waitForConnected(), request() and notify() refuse a misspelt option; backoff options do not reach connectMessages()', async () => {
    const name = uniqueName('opt');
    const server = await listenMessages(name, { key: KEY });
    servers.push(server);
    server.handle('echo', (params) => params);
    const client = await connectReconnecting(name, { key: KEY, initialDelay: 10, maxDelay: 100, jitter: 0, maxAttempts: 5, requestTimeout: 10_000 });
    try {
      assert.deepEqual(await client.request('echo', ['x']), ['x']);
      namesBoth(await rejectsWith(client.waitForConnected(js({ timout: 10 })), 'INVALID_ARGUMENT'), 'timout', 'timeout');
      namesBoth(await rejectsWith(client.notify('n', null, js({ singal: null })), 'INVALID_ARGUMENT'), 'singal', 'signal');
      // Connected: the request goes straight to the MessageSocket, which checks the names.
      namesBoth(await rejectsWith(client.request('echo', null, js({ timeot: 10 })), 'INVALID_ARGUMENT'), 'timeot', 'timeout');
    } finally {
      await client.close();
    }
  });
});

describe('singleInstance()', () => {
  test('rejects a misspelt option', async () => {
    namesBoth(await rejectsWith(singleInstance(uniqueName('opt'), js({ argvs: [] })), 'INVALID_ARGUMENT'), 'argvs', 'argv');
  });

  test('server-only options of the primary do not reach the secondary\'s connect', async () => {
    const name = uniqueName('opt');
    const options = { key: KEY, access: 'user' as const, maxPendingConnections: 5, requestTimeout: 10_000, timeout: 10_000 };
    const primary = (await singleInstance(name, { ...options, argv: ['first'] })) as PrimaryInstance;
    try {
      assert.equal(primary.primary, true);
      const seen = new Promise<string[]>((resolve) => primary.once('secondInstance', (info) => resolve(info.argv)));
      const secondary = await singleInstance(name, { ...options, argv: ['second'] });
      assert.equal(secondary.primary, false);
      assert.deepEqual(await seen, ['second']);
    } finally {
      await primary.close();
    }
  });
});

describe('the CLI', () => {
  async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    return finished(child);
  }

  test('a misspelt option of a command: exit 2, INVALID_ARGUMENT naming it and the closest option', async () => {
    const result = await run(['listen', uniqueName('opt'), '--acess', 'world']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^localsocket: INVALID_ARGUMENT: listen: unknown option "--acess" \(did you mean "--access"\?\) \(see --help\)\n$/);
    const withValue = await run(['connect', uniqueName('opt'), '--timout=5']);
    assert.equal(withValue.code, 2);
    assert.match(withValue.stderr, /unknown option "--timout" \(did you mean "--timeout"\?\)/);
  });

  test('a misspelt option before the command names the closest one too', async () => {
    const result = await run(['--verison']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^localsocket: INVALID_ARGUMENT: unknown option "--verison" before the command \(did you mean "--version"\?\) \(see --help\)\n$/);
  });

  test('a value that looks like an option is not taken for one', async () => {
    // "--timeout" takes a value; what follows "--" is an argument, not an option.
    const result = await run(['path', '--', '--not-an-option']);
    assert.doesNotMatch(result.stderr, /unknown option/);
  });
});
