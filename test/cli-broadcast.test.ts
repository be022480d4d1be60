/**
 * The CLI's broadcast and retry rules: `listen NAME --messages
 * --broadcast-stdin` sends each stdin line to every peer as the notification
 * `line`; `call --wait` and `notify --wait` retry as the reconnecting client
 * does, including against a stale socket left by a killed server.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, it } from 'node:test';
import { connectMessages, listenMessages, type MessageSocket } from '../src/index.js';
import { ERROR_LINE, lines, makeHome, run, start, startMessageServer, stop, until, type Cli, type CliHome } from './cli-helpers.js';
import { fullName, isWindows, isWine, tempDir, uniqueName } from './helpers.js';

/**
 * The endpoint the child resolved `name` to. On Windows a default name's pipe is random and
 * published in a record under the child's %LOCALAPPDATA%, which this process does not share: the
 * pipe the server printed.
 */
function endpoint(home: CliHome, name: string, server: Cli): string {
  return isWindows ? /^listening on (.+) \(messages\)$/m.exec(server.stderr())![1]! : path.join(home.env.XDG_RUNTIME_DIR!, 'localsocket', name);
}

async function waitFor(predicate: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('localsocket listen --messages --broadcast-stdin', () => {
  it('each stdin line reaches every peer as the notification "line" with {text}; an over-long line is skipped with a note', async () => {
    const home = makeHome();
    const name = uniqueName('bc');
    const server = await startMessageServer(home, name, ['--broadcast-stdin']);
    const peers: MessageSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) peers.push(await connectMessages(endpoint(home, name, server), { keyFile: home.keyFile }));
      const got = peers.map(() => [] as string[]);
      peers.forEach((p, i) =>
        p.on('notification', (method, params) => {
          assert.equal(method, 'line');
          got[i]!.push((params as { text: string }).text);
        }),
      );
      // Let the server take all three peers before the first line goes out.
      await new Promise((r) => setTimeout(r, 200));
      const stdin = server.child.stdin!;
      stdin.write('first line\nsecond');
      // A two-byte UTF-8 character cut between two writes arrives whole.
      const e = Buffer.from('é');
      stdin.write(Buffer.concat([Buffer.from(' part '), e.subarray(0, 1)]));
      await new Promise((r) => setTimeout(r, 50));
      stdin.write(Buffer.concat([e.subarray(1), Buffer.from('\r\n')]));
      // Longer than the message limit (1 MiB): skipped, noted on stderr, never held whole.
      stdin.write(`${'z'.repeat(1024 * 1024 + 100)}\n`);
      stdin.write('after the long one\n');
      await waitFor(() => got.every((g) => g.length === 3), 'three lines at every peer');
      for (const g of got) assert.deepEqual(g, ['first line', 'second part é', 'after the long one']);
      await until(server.stderr, /line not sent: MESSAGE_TOO_LARGE/, 'note about the long line');
      // Lines broadcast are not printed as received messages.
      assert.equal(lines(server).length, 0);
      // The end of stdin ends the lines, not the server.
      stdin.end();
      await new Promise((r) => setTimeout(r, 100));
      const ping = await run(home, ['call', name, 'ping']);
      assert.equal(ping.code, 0, ping.stderr);
      assert.equal(ping.stdout, '"pong"\n');
    } finally {
      for (const p of peers) p.abort();
      await stop(server);
      home.remove();
    }
  });

  it('--broadcast-stdin without --messages is a usage error', async () => {
    const home = makeHome();
    try {
      const result = await run(home, ['listen', uniqueName('bc'), '--broadcast-stdin']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^localsocket: INVALID_ARGUMENT: .*--broadcast-stdin/);
      assert.match(result.stderr, ERROR_LINE);
    } finally {
      home.remove();
    }
  });
});

describe('localsocket call/notify --wait: the reconnecting client retry rules', () => {
  it('a server killed with SIGKILL (stale socket left) and restarted: call --wait answers, notify --wait arrives', async () => {
    const home = makeHome();
    const name = uniqueName('cw');
    let server = await startMessageServer(home, name);
    try {
      server.child.kill('SIGKILL');
      await server.exited;
      const call = start(home, ['call', name, 'echo', '"again"', '--wait', '--timeout', '20000']);
      const notify = start(home, ['notify', name, 'hello', '{"n":1}', '--wait', '--timeout', '20000']);
      await new Promise((r) => setTimeout(r, 400));
      assert.equal(call.child.exitCode, null, `call --wait ended before the server came back: ${call.stderr()}`);
      assert.equal(notify.child.exitCode, null, `notify --wait ended before the server came back: ${notify.stderr()}`);
      server = await startMessageServer(home, name);
      const [callDone, notifyDone] = await Promise.all([call.exited, notify.exited]);
      assert.equal(callDone.code, 0, call.stderr());
      assert.equal(call.stdout(), '"again"\n');
      assert.equal(notifyDone.code, 0, notify.stderr());
      await until(server.stdout, /"method":"hello"/, 'the notification');
      // Each was sent once.
      assert.equal(lines(server).filter((l) => l.method === 'echo').length, 1);
      assert.equal(lines(server).filter((l) => l.method === 'hello').length, 1);
    } finally {
      await stop(server);
      home.remove();
    }
  });

  it('--wait: the deadline bounds the whole command, also against a server that never reads (TIMEOUT, exit 1)', {
    skip: isWine && "Wine's named pipes take a 900 KiB write whole from a peer that never reads: there is no stalled write to time out",
  }, async () => {
    const home = makeHome();
    const dir = tempDir();
    const name = fullName(dir, 'stuck');
    const held: net.Socket[] = [];
    // A plain server that accepts and never reads: a 900 KiB message cannot be flushed.
    const stuck = net.createServer((socket) => {
      socket.pause();
      held.push(socket);
    });
    await new Promise<void>((resolve) => stuck.listen(name, resolve));
    try {
      for (const command of ['notify', 'call']) {
        const result = await run(home, [command, name, 'big', '-', '--raw', '--wait', '--timeout', '1500'], JSON.stringify('n'.repeat(900 * 1024)));
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

  it('--wait with a wrong key fails at once with AUTH_FAILED (no retry to the deadline)', async () => {
    const home = makeHome();
    const name = uniqueName('cw');
    const server = await startMessageServer(home, name);
    try {
      const other = makeHome();
      try {
        const result = await run(home, ['call', name, 'ping', '--wait', '--timeout', '15000', '--key-file', other.keyFile]);
        assert.equal(result.code, 1);
        assert.match(result.stderr, /^localsocket: AUTH_FAILED: /);
        // One attempt only: the server turned away exactly one peer.
        await until(server.stderr, /refused a peer/, 'the refused handshake');
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(server.stderr().match(/refused a peer/g)?.length, 1, server.stderr());
      } finally {
        other.remove();
      }
    } finally {
      await stop(server);
      home.remove();
    }
  });

  it('--wait: a connection that drops before the answer fails with PEER_CLOSED, the request is not sent again', async () => {
    const home = makeHome();
    // A message server that takes the request and then drops the connection without answering.
    const dir = fullName(home.dir, 'drop');
    const server = await listenMessages(dir, { keyFile: home.keyFile });
    let requests = 0;
    server.handle('work', (_params, context) => {
      requests++;
      context.peer.abort();
      return new Promise(() => {});
    });
    try {
      const result = await run(home, ['call', dir, 'work', '--wait', '--timeout', '5000']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^localsocket: PEER_CLOSED: /);
      assert.equal(requests, 1);
    } finally {
      await server.close();
      home.remove();
    }
  });
});
