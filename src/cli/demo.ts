/**
 * `localsocket demo`: the library at work in one process, with no set-up.
 *
 * A fresh name and a random key held in memory (the user's key file is not
 * touched). In order: a crashed server's stale socket is reclaimed; a client
 * connects and authenticates; messages are echoed; an impostor holding a name
 * is refused; a 64 MiB stream is echoed and checked. Then a short report.
 * Everything it creates is tracked and removed at the end, on failure, and
 * on SIGINT / SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { CLIENT_HELLO_SIZE, SERVER_PROOF_HEADER } from '../auth/handshake.js';
import { probe } from '../endpoint/dial.js';
import { LocalSocketError } from '../errors.js';
import { resolveName, type Endpoint } from '../endpoint/names.js';
import { currentPlatform } from '../endpoint/platform.js';
import { ensurePrivateDir } from '../endpoint/private-dir.js';
import { listen, type LocalServer } from '../server.js';
import { connect, type LocalSocket } from '../socket.js';
import { integerOption, optionsHelp, type OptionSpecs, type Values } from './args.js';
import { displayAddress, EXIT, errorLine, formatAddress, formatBytes, formatMs, formatRate } from './output.js';
import { Progress } from './progress.js';
import { echo } from './serve.js';
import { onTerminate } from './signals.js';

/** The size of the echoed stream without --mib. */
const DEFAULT_MIB = 64;

export const DEMO_OPTIONS: OptionSpecs = { mib: { type: 'string', value: 'N', description: 'size of the echoed stream in MiB', defaultText: String(DEFAULT_MIB) } };

export const DEMO_HELP = `Usage: localsocket demo [--mib N]

Shows the library working, in one process, with no set-up: a server and a
client on a fresh name, authenticated with a random key kept in memory (your
key file is not touched). It reclaims a stale socket left by a killed server,
echoes messages, refuses an impostor that holds a name, echoes a stream
(with a progress bar when stderr is a terminal), and prints a report with the
connect time and the throughput. Ctrl-C stops it and cleans up.

Options:
${optionsHelp(DEMO_OPTIONS)}`;

const CHUNK = 1024 * 1024;
const CONNECT_SAMPLES = 20;
const STEPS = 5;

/** Everything the demo creates, undone in reverse order, once. */
class Cleanup {
  #steps: Array<() => Promise<void> | void> = [];
  #running: Promise<void> | null = null;

  add(step: () => Promise<void> | void): void {
    this.#steps.push(step);
  }

  run(): Promise<void> {
    this.#running ??= (async () => {
      for (const step of this.#steps.reverse()) {
        try {
          await step();
        } catch {
          // Best effort: one failed step must not keep the others from running.
        }
      }
    })();
    return this.#running;
  }
}

class DemoFailure extends LocalSocketError {
  constructor(message: string) {
    super('UNKNOWN', `demo: ${message}`);
  }
}

interface Report {
  stale: string;
  connectMs: number;
  firstConnectMs: number;
  impostor: string;
  streamBytes: number;
  streamMs: number;
}

function say(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function step(n: number, title: string): void {
  say(`\n[${n}/${STEPS}] ${title}`);
}

/** Rejects as soon as `signal` fires, whatever `work` is doing; `work`'s own outcome is then ignored. */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new LocalSocketError('ABORTED', 'demo interrupted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Takes every connection and echoes it. */
export function serveEcho(server: LocalServer, open: Set<LocalSocket>): void {
  server.on('newConnection', () => {
    for (let socket = server.nextPendingConnection(); socket; socket = server.nextPendingConnection()) {
      open.add(socket);
      socket.on('disconnected', () => open.delete(socket));
      echo(socket);
    }
  });
}

/**
 * A server process that bound `endpoint` without this library and was then
 * killed with SIGKILL: its socket file stays behind with nobody listening.
 */
async function crashedServer(endpoint: Endpoint, cleanup: Cleanup): Promise<{ pid: number; file: fs.Stats }> {
  const script = "const s=require('net').createServer();s.listen(process.argv[1],()=>process.stdout.write('ready\\n'));";
  const child: ChildProcess = spawn(process.execPath, ['-e', script, endpoint.address], { stdio: ['ignore', 'pipe', 'ignore'] });
  cleanup.add(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DemoFailure('the helper server did not start')), 10_000);
    child.stdout?.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new DemoFailure('the helper server exited early'));
    });
  });
  const file = fs.lstatSync(endpoint.address);
  // If we are interrupted before listen() reclaims it, remove the leftover (only that very file).
  cleanup.add(() => {
    const now = fs.lstatSync(endpoint.address, { throwIfNoEntry: false });
    if (now && now.ino === file.ino && now.dev === file.dev) fs.rmSync(endpoint.address, { force: true });
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  return { pid: child.pid ?? 0, file };
}

/**
 * A plain `net` server squatting on a name: it sends a forged handshake hello
 * and a forged proof, and counts what the client sends beyond its proof.
 */
async function impostor(endpoint: Endpoint, cleanup: Cleanup): Promise<{ applicationBytes: () => number; bytesReceived: () => number }> {
  let received = 0;
  const helloBytes = CLIENT_HELLO_SIZE; // what an honest client sends before it has checked the server
  const server = net.createServer((peer) => {
    peer.on('error', () => {});
    let answered = false;
    peer.on('data', (chunk) => {
      received += chunk.length;
      if (!answered && received >= helloBytes) {
        answered = true;
        // A forged proof: the impostor does not hold the key.
        peer.write(Buffer.concat([SERVER_PROOF_HEADER, randomBytes(64)]));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(endpoint.address, () => resolve());
  });
  cleanup.add(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { applicationBytes: () => Math.max(0, received - helloBytes), bytesReceived: () => received };
}

/** Writes `total` random bytes in 1 MiB chunks while reading the echo; compares SHA-256 of both. */
async function streamEcho(socket: LocalSocket, total: number, progress: Progress, signal: AbortSignal): Promise<number> {
  const sentHash = createHash('sha256');
  const gotHash = createHash('sha256');
  const started = performance.now();
  const sending = (async () => {
    for (let sent = 0; sent < total && !signal.aborted; ) {
      const chunk = randomBytes(Math.min(CHUNK, total - sent));
      sentHash.update(chunk);
      await socket.write(chunk);
      sent += chunk.length;
    }
  })();
  const receiving = (async () => {
    let got = 0;
    for await (const chunk of socket) {
      gotHash.update(chunk);
      got += chunk.length;
      progress.update(got);
      if (got >= total) break;
    }
    return got;
  })();
  const [, got] = await Promise.all([sending, receiving]);
  const elapsed = performance.now() - started;
  progress.clear();
  if (got !== total) throw new DemoFailure(`the echo stopped after ${got} of ${total} bytes`);
  if (!sentHash.digest().equals(gotHash.digest())) throw new DemoFailure('the echoed bytes differ from those sent');
  return elapsed;
}

interface Context {
  key: Buffer;
  cleanup: Cleanup;
  signal: AbortSignal;
  report: Report;
}

/** Step 1: a stale socket left by a crashed server is proven stale and reclaimed by listen(). */
async function staleStep(ctx: Context, name: string, endpoint: Endpoint): Promise<LocalServer> {
  const { key, cleanup, signal, report } = ctx;
  step(1, 'stale socket');
  const options = { key, closeTimeout: 2000 };
  // A plain net server cannot bind a path longer than sun_path (Node truncates it): skip the step then.
  if (endpoint.kind !== 'unix' || endpoint.longPath) {
    const why = endpoint.kind === 'pipe' ? 'named pipes vanish with their server' : 'the socket path is too long for a plain net server';
    report.stale = `skipped (${why})`;
    say(`  skipped: ${why}`);
    return unlessAborted(listen(name, options), signal);
  }
  const platform = currentPlatform();
  if (endpoint.privateDir) ensurePrivateDir(endpoint.privateDir, platform.uid);
  const crashed = await unlessAborted(crashedServer(endpoint, cleanup), signal);
  const state = await probe(endpoint, 1000);
  say(`  a server (pid ${crashed.pid}) bound the name and was killed with SIGKILL;`);
  say(`  its socket file is still there, and nobody answers on it: ${state}`);
  if (state !== 'stale') throw new DemoFailure(`expected a stale socket, found ${state}`);
  const t0 = performance.now();
  const server = await unlessAborted(listen(name, options), signal);
  const ms = performance.now() - t0;
  report.stale = `reclaimed in ${formatMs(ms)}`;
  say(`  listen() proved it stale, removed it and took the name (${formatMs(ms)})`);
  return server;
}

/** The longest echoed line the demo reads; a longer one comes back cut, and fails the check. */
const MAX_LINE = 1024;

/**
 * Sends `message` as one line and returns the line that comes back. Between
 * tries it waits for new data (waitForReadyRead), so a line that arrives in
 * pieces is awaited, never spun on.
 * @param socket a connected socket
 * @param message the text to send, without its newline
 * @param signal ends the exchange with ABORTED
 * @returns the echoed line, without its line end
 * @throws TIMEOUT if nothing new arrives for 5 s; PEER_CLOSED if the peer closes first; ABORTED
 */
export async function exchangeLine(socket: LocalSocket, message: string, signal: AbortSignal): Promise<string> {
  await unlessAborted(socket.write(`${message}\n`), signal);
  let line: Buffer | null;
  while ((line = socket.readLine(MAX_LINE)) === null) await unlessAborted(socket.waitForReadyRead({ timeout: 5000, signal }), signal);
  return line.toString('utf8').trimEnd();
}

/** Step 2: connect, authenticate both ways, echo messages, time connects. */
async function connectStep(ctx: Context, name: string, open: Set<LocalSocket>): Promise<LocalSocket> {
  const { key, signal, report } = ctx;
  step(2, 'authenticated connection and messages');
  let t0 = performance.now();
  const client = await unlessAborted(connect(name, { key, timeout: 5000, signal }), signal);
  report.firstConnectMs = performance.now() - t0;
  open.add(client);
  say(`  connected in ${formatMs(report.firstConnectMs)}: each side proved it holds the key (HMAC-SHA256)`);
  for (const message of ['hello', 'ping', 'grüße, 世界']) {
    const back = await exchangeLine(client, message, signal);
    if (back !== message) throw new DemoFailure(`sent "${message}" but got "${back}" back`);
    say(`  sent "${message}"  ->  echoed "${back}"`);
  }
  const samples: number[] = [];
  for (let i = 0; i < CONNECT_SAMPLES; i++) {
    t0 = performance.now();
    const extra = await unlessAborted(connect(name, { key, timeout: 5000, signal }), signal);
    samples.push(performance.now() - t0);
    extra.abort();
  }
  report.connectMs = median(samples);
  say(`  ${CONNECT_SAMPLES} more connects: median ${formatMs(report.connectMs)} each, handshake included`);
  return client;
}

/** Step 3: an impostor holding a name is refused before the client sends a byte. */
async function impostorStep(ctx: Context, name: string, endpoint: Endpoint): Promise<void> {
  const { key, cleanup, signal, report } = ctx;
  step(3, 'impostor');
  if (endpoint.kind === 'unix' && endpoint.longPath) {
    report.impostor = 'skipped (the socket path is too long for a plain net server)';
    say(`  ${report.impostor}`);
    return;
  }
  if (endpoint.record) {
    await squatterStep(ctx, name);
    return;
  }
  const fake = await unlessAborted(impostor(endpoint, cleanup), signal);
  say(`  a plain net server holds ${displayAddress(endpoint)}`);
  say('  and answers with a forged handshake (it does not have the key)');
  try {
    const victim = await unlessAborted(connect(name, { key, timeout: 5000, signal }), signal);
    victim.abort();
    throw new DemoFailure('the client accepted the impostor');
  } catch (err) {
    if (!(err instanceof LocalSocketError) || err.code !== 'AUTH_FAILED') throw err;
    report.impostor = `refused (${err.code})`;
    say(`  the client refused it: ${err.code}: ${err.message}`);
  }
  const leaked = fake.applicationBytes();
  say(`  application bytes the impostor received: ${leaked}`);
  if (leaked !== 0) throw new DemoFailure('the impostor received application data');
}

/**
 * Step 3 on Windows: a default name has no fixed pipe to squat. A plain server
 * on the pipe an attacker would guess (\\.\pipe\NAME) is never opened: the
 * client reads the user's private record, finds no server, and says so.
 */
async function squatterStep(ctx: Context, name: string): Promise<void> {
  const { key, cleanup, signal, report } = ctx;
  const guessed = resolveName(name, { auth: false }, currentPlatform());
  const fake = await unlessAborted(impostor(guessed, cleanup), signal);
  say(`  a plain net server holds ${displayAddress(guessed)}, the pipe an attacker would guess`);
  try {
    const victim = await unlessAborted(connect(name, { key, timeout: 5000, signal }), signal);
    victim.abort();
    throw new DemoFailure('the client connected to a server that is not ours');
  } catch (err) {
    if (!(err instanceof LocalSocketError) || err.code !== 'SERVER_NOT_FOUND') throw err;
    report.impostor = `never opened (${err.code}: no record of ours names that pipe)`;
    say(`  the client never opened it: ${err.code}: ${err.message}`);
  }
  const leaked = fake.bytesReceived();
  say(`  bytes the squatter received: ${leaked}`);
  if (leaked !== 0) throw new DemoFailure('the squatter received bytes');
}

async function runSteps(ctx: Context, total: number, progress: Progress): Promise<void> {
  const { cleanup, signal, report } = ctx;
  const platform = currentPlatform();
  const name = `demo-${process.pid}-${randomBytes(3).toString('hex')}`;
  const endpoint = resolveName(name, {}, platform);
  const open = new Set<LocalSocket>();
  cleanup.add(() => {
    for (const socket of open) socket.abort();
  });

  say(`localsocket demo (Node ${process.version}, ${process.platform})`);
  say(`  name:      ${name}`);
  say(`  endpoint:  ${displayAddress(endpoint)}`);
  say('  key:       32 random bytes in memory (your key file is not touched)');

  const server = await staleStep(ctx, name, endpoint);
  cleanup.add(() => server.close());
  serveEcho(server, open);
  say(`  server listening on ${formatAddress(server.fullServerName ?? endpoint.address)}`);

  const client = await connectStep(ctx, name, open);

  const impostorName = `${name}-impostor`;
  await impostorStep(ctx, impostorName, resolveName(impostorName, {}, platform));

  // 4. A large stream, echoed and checked.
  step(4, `${formatBytes(total)} stream`);
  say(`  streaming ${formatBytes(total)} to the echo server and reading it back`);
  report.streamMs = await unlessAborted(streamEcho(client, total, progress, signal), signal);
  report.streamBytes = total;
  say(`  ${formatBytes(total)} went there and back in ${formatMs(report.streamMs)}; SHA-256 of both sides match`);

  // 5. Clean up: the server removes its socket file.
  step(5, 'clean up');
  await client.disconnectFromServer();
  await server.close();
  const gone = endpoint.kind !== 'unix' || !fs.existsSync(endpoint.address);
  say(`  client disconnected, server closed, socket file removed: ${gone ? 'yes' : 'NO'}`);
  if (!gone) throw new DemoFailure('the socket file was not removed');
}

export async function runDemo(values: Values): Promise<number> {
  const mib = integerOption(values, 'mib', 1, 1024 * 1024) ?? DEFAULT_MIB;
  const total = mib * 1024 * 1024;
  const cleanup = new Cleanup();
  const progress = new Progress(process.stderr, 'echo', total);
  const interrupt = new AbortController();
  const stopSignals = onTerminate(() => {
    interrupt.abort();
    progress.clear();
    void cleanup.run();
  });
  const report: Report = { stale: '', connectMs: 0, firstConnectMs: 0, impostor: '', streamBytes: 0, streamMs: 0 };
  try {
    await runSteps({ key: randomBytes(32), cleanup, signal: interrupt.signal, report }, total, progress);
  } catch (err) {
    progress.clear();
    if (interrupt.signal.aborted) {
      await cleanup.run();
      process.stderr.write(`${errorLine('ABORTED', 'demo interrupted; everything it created was removed')}\n`);
      return EXIT.interrupted;
    }
    throw err;
  } finally {
    await cleanup.run();
    stopSignals();
  }
  say('\nreport');
  say(`  connect, handshake included   ${formatMs(report.connectMs)} (median of ${CONNECT_SAMPLES}; first ${formatMs(report.firstConnectMs)})`);
  say(`  ${`${formatBytes(report.streamBytes)} echo`.padEnd(29)} ${formatMs(report.streamMs)}, ${formatRate(report.streamBytes, report.streamMs)} each way`);
  say(`  stale socket                  ${report.stale}`);
  say(`  impostor                      ${report.impostor}`);
  say('\ndemo finished: everything worked');
  return EXIT.ok;
}
