/**
 * Faults a real daemon meets: running out of descriptors, being stopped
 * (SIGSTOP) and resumed, an event loop blocked for a second at a time while
 * clients connect, and a client killed in the middle of a large message.
 * The server runs in a child process (fixtures/fault-server), as it would.
 * No assertion depends on how fast this machine is: every wait is for an
 * event, with a generous deadline only so that nothing hangs.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectMessages, LocalSocketError, type MessageSocket } from '../src/index.js';
import { fixture, isLinux, isWindows, runFixture, uniqueName, waitFor, waitForLine } from './helpers.js';

const keyHex = randomBytes(32).toString('hex');
const key = Buffer.from(keyHex, 'hex');

interface Stats {
  peers: number;
  fds: number;
  rss: number;
  arrayBuffers: number;
}

interface FaultServer {
  child: ChildProcess;
  name: string;
  /** Every line the server printed so far. */
  lines: string[];
  count(prefix: string): number;
  stop(): Promise<void>;
}

/** Starts fixtures/fault-server in a child (optionally under `ulimit -n <fdLimit>`). */
async function startServer(args: string[] = [], fdLimit?: number): Promise<FaultServer> {
  const name = uniqueName('fault');
  const argv = ['--expose-gc', fixture('fault-server.js'), name, keyHex, ...args];
  const child = fdLimit === undefined
    ? spawn(process.execPath, argv, { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn('sh', ['-c', `ulimit -n ${fdLimit} && exec "$0" "$@"`, process.execPath, ...argv], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString();
    const parts = text.split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await waitForLine(child, /^listening /, 30_000);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${String(err)}; stderr: ${stderr}`);
  }
  return {
    child,
    name,
    lines,
    count: (prefix) => lines.filter((l) => l.startsWith(prefix)).length,
    async stop() {
      child.kill('SIGCONT');
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

function stats(socket: MessageSocket): Promise<Stats> {
  return socket.request('stats', undefined, { timeout: 60_000 }) as Promise<Stats>;
}

function isStopped(pid: number): boolean {
  // Field 3 of /proc/<pid>/stat is the state: T = stopped by a signal.
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    return err instanceof LocalSocketError ? err.code : `not a LocalSocketError: ${String(err)}`;
  }
}

test('a server out of file descriptors keeps running, turns clients away with a stated refusal, and serves again once descriptors are free', { timeout: 120_000, skip: !isLinux && 'lowers the descriptor limit with ulimit -n (Linux)' }, async () => {
  const server = await startServer([], 64);
  const held: MessageSocket[] = [];
  try {
    const first = await connectMessages(server.name, { key, timeout: 30_000 });
    held.push(first);
    const before = await stats(first);
    // Connect until the server has no descriptor left for the next one.
    let refusal: string | null = null;
    for (let i = 0; i < 200 && refusal === null; i++) {
      try {
        // A generous deadline: only running out of descriptors may stop this loop, not a slow machine.
        held.push(await connectMessages(server.name, { key, timeout: 30_000 }));
      } catch (err) {
        refusal = err instanceof LocalSocketError ? err.code : String(err);
      }
    }
    // The server has no descriptor to answer with: accept4() fails EMFILE, and libuv frees its
    // reserved descriptor, accepts the waiting connection and closes it at once, unread (the
    // server is not told). The client's HELLO then either meets that close (write EPIPE) or was
    // unread when the server's end closed (the kernel resets the client's end: read ECONNRESET).
    // Both are "closed without reading my HELLO", which the protocol takes as BUSY: retried,
    // RESOURCE_EXHAUSTED at the deadline, whichever came first. (A plain end-of-stream, which
    // would mean the server read the HELLO, is not seen: the HELLO write's EPIPE is reported
    // before the end of the stream, and nothing ever reads the HELLO.)
    assert.equal(refusal, 'RESOURCE_EXHAUSTED', 'the client turned away is told the server is busy');
    assert.equal(server.count('error'), 0, 'no server error: running out of descriptors is a refusal');
    // Still running: every connection it holds is served.
    const answers = await Promise.all(held.map((s) => s.request('ping', undefined, { timeout: 60_000 })));
    assert.ok(answers.every((a) => a === 'pong'));
    console.log(`fd exhaustion: limit 64; client turned away: ${refusal}; server fds ${before.fds} with 1 client; ${held.length} clients held when the next was refused; server lines: ${server.lines.length}`);
    // Free some descriptors: the server serves new clients again.
    const freed = held.splice(1, 10);
    await Promise.all(freed.map((s) => s.close()));
    await waitFor(() => server.count('left') >= 10, 60_000, 'the server to see 10 clients leave');
    const again = await connectMessages(server.name, { key, timeout: 30_000 });
    held.push(again);
    assert.equal(await again.request('ping'), 'pong');
    assert.equal(server.child.exitCode, null, 'the server is still running');
  } finally {
    for (const s of held) s.abort();
    await server.stop();
  }
});

/** How long the stopped server stays stopped, as the fault has it. */
const STOP_MS = 10_000;

test('a server stopped (SIGSTOP) for 10 s then resumed: requests and connects with short timeouts fail TIMEOUT, the others complete after the resume', { timeout: 120_000, skip: isWindows && 'SIGSTOP/SIGCONT are POSIX signals' }, async () => {
  const server = await startServer();
  const patient = await connectMessages(server.name, { key, timeout: 30_000 });
  const hasty = await connectMessages(server.name, { key, timeout: 30_000 });
  try {
    assert.equal(await patient.request('ping'), 'pong');
    server.child.kill('SIGSTOP');
    await waitFor(() => isStopped(server.child.pid!), 30_000, 'the server to be stopped');
    const stoppedAt = performance.now();
    // While it is stopped: short timeouts fail, long ones wait.
    const short = Array.from({ length: 5 }, () => codeOf(hasty.request('ping', undefined, { timeout: 300 })));
    const shortConnect = codeOf(connectMessages(server.name, { key, timeout: 300 }).then((s) => s.abort()));
    const long = Array.from({ length: 5 }, () => patient.request('ping', undefined, { timeout: 120_000 }));
    // The handshake has its own deadline (handshakeTimeout, 5 s by default, on each side), which a
    // 10-s stop passes: a patient connect raises both.
    const longConnect = connectMessages(server.name, { key, timeout: 120_000, handshakeTimeout: 120_000 });
    const handshakeBound = codeOf(connectMessages(server.name, { key, timeout: 120_000 }).then((s) => s.abort()));
    const shortCodes = await Promise.all(short);
    assert.deepEqual(shortCodes, Array(5).fill('TIMEOUT'));
    assert.equal(await shortConnect, 'TIMEOUT');
    // The stop lasts 10 s in all (the fault's length, not a budget): on resume every timer of the
    // server that fell due meanwhile fires in the same turn as the reads it missed.
    await sleep(Math.max(0, STOP_MS - (performance.now() - stoppedAt)));
    assert.equal(await handshakeBound, 'TIMEOUT', 'a connect with the default handshakeTimeout gives up after it, within the stop');
    assert.ok(isStopped(server.child.pid!), 'the server was stopped the whole time');
    server.child.kill('SIGCONT');
    assert.deepEqual(await Promise.all(long), Array(5).fill('pong'), 'the patient requests are answered after the resume');
    const late = await longConnect;
    assert.equal(await late.request('ping'), 'pong', 'the patient connect completes');
    await late.close();
    // The connection whose requests timed out is still usable.
    assert.equal(await hasty.request('ping'), 'pong');
  } finally {
    patient.abort();
    hasty.abort();
    await server.stop();
  }
});

test('a server whose event loop is blocked for 1 s at a time drops none of 200 clients that saw connect() resolve', { timeout: 300_000, skip: isWindows && 'a 200-client burst against a blocked loop is too slow under Wine pipes to end within the suite' }, async () => {
  // Few handshake slots, so that they are all taken and the eviction rule is what decides.
  const server = await startServer(['--block', '1000', '50', '--max-handshakes', '8']);
  const clients: MessageSocket[] = [];
  const closedEarly: (string | null)[] = [];
  try {
    await waitFor(() => server.count('blocked') >= 1, 60_000, 'the first blocked stretch');
    const results = await Promise.allSettled(Array.from({ length: 200 }, () => connectMessages(server.name, { key, timeout: 120_000 })));
    const failures: Record<string, number> = {};
    for (const r of results) {
      if (r.status === 'fulfilled') {
        clients.push(r.value);
        r.value.on('close', (reason) => closedEarly.push(reason?.code ?? null));
      } else {
        const code = r.reason instanceof LocalSocketError ? r.reason.code : String(r.reason);
        failures[code] = (failures[code] ?? 0) + 1;
      }
    }
    // A client that found no room retries until its deadline and may fail busy (or time out) on a
    // loaded machine: that is a refusal, not a drop. What must never happen is below.
    for (const code of Object.keys(failures)) assert.ok(['RESOURCE_EXHAUSTED', 'TIMEOUT'].includes(code), `connect failed with ${code}`);
    assert.ok(clients.length > 0, 'some clients connected');
    // Every client that saw connect() resolve is served: none was dropped.
    const answers = await Promise.allSettled(clients.map((s) => s.request('ping', undefined, { timeout: 120_000 })));
    const dropped = answers.filter((a) => a.status === 'rejected').length;
    assert.equal(dropped, 0, `clients dropped after connect() resolved: ${dropped}`);
    assert.deepEqual(closedEarly, []);
    const blocks = server.count('blocked');
    assert.ok(blocks >= 2, 'the loop was blocked during the connects');
    assert.ok(server.count('refused RESOURCE_EXHAUSTED') > 0, 'every handshake slot was taken at some point: the eviction rule was exercised');
    console.log(`blocked loop: ${clients.length} of 200 connected (failed: ${JSON.stringify(failures)}), every one answered across ${blocks} blocked stretches of 1 s; server refusals: ${server.count('refused')} (${[...new Set(server.lines.filter((l) => l.startsWith('refused')))].join(', ')})`);
  } finally {
    for (const s of clients) s.abort();
    await server.stop();
  }
});

test('a client killed in the middle of a 100 MiB message: the server frees it and carries on', { timeout: 120_000, skip: isWindows && 'SIGKILL of a child mid-write; Windows has no signals' }, async () => {
  const server = await startServer(['--max-message', String(128 * 1024 * 1024)]);
  const observer = await connectMessages(server.name, { key, timeout: 30_000 });
  let sender: ChildProcess | null = null;
  try {
    const baseline = await stats(observer);
    sender = runFixture('slow-sender.js', [server.name, keyHex, '100']);
    await waitForLine(sender, /^sent 40$/, 60_000);
    const during = await stats(observer);
    assert.equal(during.peers, 2);
    sender.kill('SIGKILL');
    await waitFor(() => server.count('left') >= 1, 60_000, 'the server to see the sender leave');
    assert.equal(server.count('binary'), 0, 'the message was never completed');
    const MiB = 1024 * 1024;
    // The partial message (its 100 MiB buffer) is freed: polled (each poll runs a full GC in the
    // server), since the connection's teardown finishes at the server's pace.
    let after = await stats(observer);
    for (let i = 0; i < 300 && after.arrayBuffers >= baseline.arrayBuffers + 8 * MiB; i++) {
      await new Promise((r) => setTimeout(r, 200));
      after = await stats(observer);
    }
    assert.equal(after.peers, 1, 'only the observer is left');
    assert.ok(after.arrayBuffers < baseline.arrayBuffers + 8 * MiB, `arrayBuffers ${after.arrayBuffers} vs ${baseline.arrayBuffers} before`);
    // And the server carries on: a new client's message goes through.
    const next = await connectMessages(server.name, { key, timeout: 30_000, maxMessageSize: 2 * MiB });
    const echoed = new Promise<Buffer>((resolve) => next.once('binary', (d) => resolve(Buffer.from(d))));
    const payload = randomBytes(MiB);
    await next.sendBinary(payload);
    assert.ok((await echoed).equals(payload));
    await next.close();
    console.log(`killed mid-message: server arrayBuffers ${(baseline.arrayBuffers / MiB).toFixed(1)} MiB before, ${(during.arrayBuffers / MiB).toFixed(1)} MiB with 40 of 100 MiB received, ${(after.arrayBuffers / MiB).toFixed(1)} MiB after the kill; RSS ${(baseline.rss / MiB).toFixed(0)} / ${(during.rss / MiB).toFixed(0)} / ${(after.rss / MiB).toFixed(0)} MiB; left: ${server.lines.filter((l) => l.startsWith('left')).join(', ')}`);
  } finally {
    sender?.kill('SIGKILL');
    observer.abort();
    await server.stop();
  }
});
