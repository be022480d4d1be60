/**
 * The message commands of the CLI, run as child processes exactly as a user
 * runs them: `listen NAME --messages`, `call` and `notify`. Every child gets a
 * temporary key file, XDG_RUNTIME_DIR, XDG_CONFIG_HOME and HOME (never the
 * user's own), and all of them are removed afterwards.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { connectMessages } from '../src/messages/message-socket.js';
import { connect } from '../src/socket.js';
import { ERROR_LINE, lines, makeHome, run, start, startMessageServer, stop, until, type Cli, type CliHome } from './cli-helpers.js';
import { fullName, isWindows, isWine, tempDir, uniqueName } from './helpers.js';

describe('localsocket listen --messages, call, notify', () => {
  let home: CliHome;
  let name: string;
  let server: Cli;

  before(async () => {
    home = makeHome();
    name = uniqueName('msg');
    server = await startMessageServer(home, name);
  });
  after(async () => {
    await stop(server);
    home.remove();
  });

  it('call echo prints its params back as JSON; the server prints the request as a JSON line', async () => {
    const params = { text: 'héllo', n: [1, 2.5, null, true] };
    const result = await run(home, ['call', name, 'echo', JSON.stringify(params)]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '');
    assert.equal(result.stdout, `${JSON.stringify(params)}\n`);
    await until(server.stdout, /"method":"echo"/, 'request line');
    const line = lines(server).find((l) => l.method === 'echo');
    assert.equal(line?.type, 'request');
    assert.deepEqual(line?.params, params);
    assert.equal(typeof line?.id, 'number');
    assert.equal(typeof line?.peer, 'number');
  });

  it('call ping answers "pong"; a call without params sends none', async () => {
    const result = await run(home, ['call', name, 'ping']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '"pong"\n');
    await until(server.stdout, /"method":"ping"/, 'ping line');
    const line = lines(server).find((l) => l.method === 'ping');
    assert.equal(Object.hasOwn(line!, 'params'), false);
  });

  it('notify: the server prints the notification; nothing on stdout, exit 0', async () => {
    const result = await run(home, ['notify', name, 'progress', '{"done":3,"total":10}']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, '');
    await until(server.stdout, /"method":"progress"/, 'notification line');
    const line = lines(server).find((l) => l.method === 'progress');
    assert.deepEqual(line, { peer: line!.peer, type: 'notification', method: 'progress', params: { done: 3, total: 10 } });
  });

  it('an unknown method: one REMOTE_ERROR line on stderr, exit 1, nothing on stdout', async () => {
    const result = await run(home, ['call', name, 'no-such-method', '[1]']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, ERROR_LINE);
    assert.match(result.stderr, /^localsocket: REMOTE_ERROR: .*not found/);
  });

  it('params over the argument size limit go through stdin with "-" (900 KiB)', async () => {
    const params = { blob: 'x'.repeat(900 * 1024) };
    const text = JSON.stringify(params);
    const result = await run(home, ['call', name, 'echo', '-'], text);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.length, text.length + 1);
    assert.equal(result.stdout, `${text}\n`);
    const fromStdin = await run(home, ['notify', name, 'big', '-'], text);
    assert.equal(fromStdin.code, 0, fromStdin.stderr);
  });

  it('stdin over the message size limit fails MESSAGE_TOO_LARGE, exit 1', async () => {
    const result = await run(home, ['call', name, 'echo', '-'], JSON.stringify('y'.repeat(1024 * 1024 + 10)));
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^localsocket: MESSAGE_TOO_LARGE: /);
    assert.match(result.stderr, ERROR_LINE);
  });

  it('a binary message is printed as base64; a plain JSON message as "message"', async () => {
    // The server's endpoint as the child resolved it (a pipe name has no directory).
    // Windows: the pipe the child published (its record is under the child's %LOCALAPPDATA%, not ours).
    const endpoint = isWindows ? /^listening on (.+) \(messages\)$/m.exec(server.stderr())![1]! : path.join(home.env.XDG_RUNTIME_DIR!, 'localsocket', name);
    const peer = await connectMessages(endpoint, { keyFile: home.keyFile });
    try {
      await peer.sendBinary(Buffer.from([0, 1, 2, 255]));
      await peer.send({ plain: true });
    } finally {
      await peer.close();
    }
    await until(server.stdout, /"type":"message"/, 'message line');
    const binary = lines(server).find((l) => l.type === 'binary');
    assert.equal(binary?.base64, Buffer.from([0, 1, 2, 255]).toString('base64'));
    assert.deepEqual(lines(server).find((l) => l.type === 'message')?.value, { plain: true });
  });

  it('a peer that sends a bad frame is dropped (a line on stderr); the server goes on', async () => {
    // Windows: the pipe the child published (its record is under the child's %LOCALAPPDATA%, not ours).
    const endpoint = isWindows ? /^listening on (.+) \(messages\)$/m.exec(server.stderr())![1]! : path.join(home.env.XDG_RUNTIME_DIR!, 'localsocket', name);
    const socket = await connect(endpoint, { keyFile: home.keyFile });
    try {
      await socket.write(Buffer.from([0x58, 0, 0, 0, 1, 0x21]));
      await until(server.stderr, /^dropped peer \d+: PROTOCOL_ERROR: /m, 'dropped peer line');
    } finally {
      socket.abort();
    }
    const after = await run(home, ['call', name, 'ping']);
    assert.equal(after.code, 0, after.stderr);
    assert.equal(after.stdout, '"pong"\n');
  });

  it('--key-file with the same key works; another key fails AUTH_FAILED, exit 1', async () => {
    const same = await run(home, ['call', name, 'ping', '--key-file', home.keyFile]);
    assert.equal(same.code, 0, same.stderr);
    const other = path.join(home.dir, 'other-key');
    fs.writeFileSync(other, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const wrong = await run(home, ['call', name, 'ping', '--key-file', other]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /^localsocket: AUTH_FAILED: /);
    assert.equal(wrong.stdout, '');
  });

  it('usage errors: one INVALID_ARGUMENT line, exit 2', async () => {
    const cases = [
      ['call', name],
      ['notify'],
      ['call', name, 'echo', '{not json'],
      ['call', name, 'echo', '1', 'extra'],
      ['call', name, 'echo', '--timeout', 'soon'],
      ['call', name, 'echo', '--raw', '--key-file', home.keyFile],
      ['listen', uniqueName('msg'), '--messages', '--echo'],
    ];
    for (const args of cases) {
      const result = await run(home, args);
      assert.equal(result.code, 2, `exit status of: localsocket ${args.join(' ')}; stderr: ${result.stderr}`);
      assert.match(result.stderr, /^localsocket: INVALID_ARGUMENT: /, args.join(' '));
      assert.match(result.stderr, ERROR_LINE);
      assert.equal(result.stdout, '');
    }
    const fromStdin = await run(home, ['call', name, 'echo', '-'], '{"a":');
    assert.equal(fromStdin.code, 2);
    assert.match(fromStdin.stderr, /^localsocket: INVALID_ARGUMENT: .*stdin/);
  });

  it('help for call and notify, and both in the command list', async () => {
    const top = await run(home, ['--help']);
    for (const command of ['call', 'notify']) {
      assert.match(top.stdout, new RegExp(`^  ${command} `, 'm'));
      const help = await run(home, [command, '--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, new RegExp(`^Usage: localsocket ${command} NAME METHOD`));
    }
    const listen = await run(home, ['listen', '--help']);
    assert.match(listen.stdout, /--messages/);
  });
});

describe('localsocket call: servers that are not there yet, raw mode', () => {
  it('without --wait a missing server is SERVER_NOT_FOUND; with --wait a server started later answers', async () => {
    const home = makeHome();
    const name = uniqueName('late');
    let server: Cli | undefined;
    try {
      const missing = await run(home, ['call', name, 'ping', '--timeout', '2000']);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /^localsocket: SERVER_NOT_FOUND: /);
      const waiting = start(home, ['call', name, 'echo', '"late"', '--wait', '--timeout', '20000']);
      // The call must still be waiting, not failed, when the server comes up.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(waiting.child.exitCode, null, `call --wait ended before the server started: ${waiting.stderr()}`);
      server = await startMessageServer(home, name);
      const { code } = await waiting.exited;
      assert.equal(code, 0, waiting.stderr());
      assert.equal(waiting.stdout(), '"late"\n');
    } finally {
      if (server) await stop(server);
      home.remove();
    }
  });

  it('--wait gives up with TIMEOUT at its deadline', async () => {
    const home = makeHome();
    try {
      const result = await run(home, ['call', uniqueName('never'), 'ping', '--wait', '--timeout', '300']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^localsocket: TIMEOUT: /);
    } finally {
      home.remove();
    }
  });

  it('call and notify --timeout bound the whole command: a server that never reads gets TIMEOUT, exit 1', {
    skip: isWine && "Wine's named pipes take a 900 KiB write whole from a peer that never reads: there is no stalled write to time out",
  }, async () => {
    const home = makeHome();
    const dir = tempDir();
    const name = fullName(dir, 'stuck');
    const held: net.Socket[] = [];
    // A plain server that accepts and never reads: the notification cannot be flushed.
    const stuck = net.createServer((socket) => {
      socket.pause();
      held.push(socket);
    });
    await new Promise<void>((resolve) => stuck.listen(name, resolve));
    try {
      for (const command of ['notify', 'call']) {
        const result = await run(home, [command, name, 'big', '-', '--raw', '--timeout', '1500'], JSON.stringify('n'.repeat(900 * 1024)));
        assert.equal(result.code, 1, `${command}: ${result.stderr}`);
        assert.match(result.stderr, /^localsocket: TIMEOUT: /);
        assert.match(result.stderr, ERROR_LINE);
        assert.equal(result.stdout, '');
      }
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => stuck.close(() => resolve()));
      home.remove();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--raw on both sides: no handshake, same messages', async () => {
    const home = makeHome();
    const dir = tempDir();
    const name = fullName(dir, 'raw');
    const server = await startMessageServer(home, name, ['--raw']);
    try {
      const result = await run(home, ['call', name, 'echo', '{"raw":1}', '--raw']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, '{"raw":1}\n');
      const notify = await run(home, ['notify', name, 'tick', '--raw']);
      assert.equal(notify.code, 0, notify.stderr);
      await until(server.stdout, /"method":"tick"/, 'raw notification');
      if (!isWindows) {
        // SIGTERM stops it cleanly: exit 0, socket file removed.
        server.child.kill('SIGTERM');
        assert.equal((await server.exited).code, 0);
        assert.equal(fs.existsSync(name), false);
      }
    } finally {
      await stop(server);
      home.remove();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the default key is used when no --key-file is given (XDG_CONFIG_HOME, %LOCALAPPDATA% on Windows)', async () => {
    const home = makeHome();
    const name = uniqueName('defkey');
    const server = await startMessageServer(home, name);
    try {
      const result = await run(home, ['call', name, 'ping']);
      assert.equal(result.code, 0, result.stderr);
      // A different default key (another XDG_CONFIG_HOME) is refused by the handshake.
      const other = makeHome();
      try {
        const where = isWindows ? 'LOCALAPPDATA' : 'XDG_CONFIG_HOME';
        const env = { ...home.env, [where]: other.env[where] };
        // Windows: the pipe record lives under %LOCALAPPDATA% too, so that client is given the published pipe itself.
        const pipe = /^listening on (.+) \(messages\)$/m.exec(server.stderr())![1]!;
        const refused = await run({ ...home, env }, ['call', isWindows ? pipe : name, 'ping']);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /^localsocket: AUTH_FAILED: /);
      } finally {
        other.remove();
      }
    } finally {
      await stop(server);
      home.remove();
    }
  });
});
