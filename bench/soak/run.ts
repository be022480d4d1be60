/**
 * `npm run soak -- --minutes N`: a message daemon and five client processes at
 * a steady load, with faults on a schedule, for N minutes (default 1).
 *
 *   node dist/bench/soak/run.js [--minutes N] [--report FILE] [--table FILE] [--sample-seconds S]
 *
 * - every 30 s the daemon is SIGKILLed and restarted;
 * - every 45 s one client process (in turn; never the `mixed` one, which
 *   stays for the whole run as the long-lived witness) is SIGKILLed and replaced;
 * - every 90 s (first at 15 s) the daemon is SIGSTOPped for 3 s, then SIGCONTed.
 * Every process reports RSS, heap used, open fds and active handles every few
 * seconds. At the end the clients stop starting work, wait for what is pending
 * (each operation has a deadline), and report their outcome counts.
 *
 * Exits 1 on any operation never settled, settled twice or answered wrongly,
 * any failure that is not a LocalSocketError, a process whose RSS or open fd
 * count keeps growing after warm-up (the rule is in trend.ts), a daemon that
 * does not restart, or a client that does not finish. Everything runs in a
 * temporary user environment (XDG_RUNTIME_DIR, TMPDIR, XDG_CONFIG_HOME) that is
 * removed afterwards; no child outlives the run (Ctrl-C included).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  emptyCounts, KINDS, sleep, within,
  type ChildMessage, type CountsByKind, type Kind, type Outcomes, type Sample,
} from './common.js';
import { FD_THRESHOLD, RSS_THRESHOLD, trend, type Point, type Trend } from './trend.js';

const here = path.dirname(fileURLToPath(import.meta.url));

// ---- options -------------------------------------------------------------------------

interface Options {
  minutes: number;
  report: string;
  table: string | null;
  sampleS: number;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: 1, report: path.resolve('.cache/soak-report.json'), table: null, sampleS: 0 };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) usage(`${arg} needs a value`);
      return v!;
    };
    if (arg === '--minutes') o.minutes = Number(value());
    else if (arg === '--report') o.report = path.resolve(value());
    else if (arg === '--table') o.table = path.resolve(value());
    else if (arg === '--sample-seconds') o.sampleS = Number(value());
    else usage(`unknown argument ${arg}`);
  }
  if (!(o.minutes > 0)) usage('--minutes must be a positive number');
  if (o.sampleS <= 0) o.sampleS = o.minutes <= 5 ? 2 : 5;
  return o;
}

function usage(why: string): never {
  console.error(`soak: ${why}\nusage: node dist/bench/soak/run.js [--minutes N] [--report FILE] [--table FILE] [--sample-seconds S]`);
  process.exit(2);
}

const options = parseArgs(process.argv.slice(2));
const DAEMON_KILL_S = 30;
const CLIENT_KILL_S = 45;
const STOP_EVERY_S = 90;
const STOP_FIRST_S = 15;
const STOP_FOR_S = 3;
const durationS = options.minutes * 60;
/** Samples of a process younger than this are warm-up (JIT, pools, first connections). */
const warmupS = Math.min(60, Math.max(10, durationS * 0.25));
const ROLES = ['mixed', 'rpc', 'binary', 'subscriber', 'oneshot'] as const;

// ---- the temporary user environment -------------------------------------------------------

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'localsocket-soak-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  XDG_RUNTIME_DIR: path.join(root, 'run'),
  TMPDIR: path.join(root, 'tmp'),
  XDG_CONFIG_HOME: path.join(root, 'config'),
  LOCALSOCKET_SOAK_KEY: randomBytes(32).toString('hex'),
  LOCALSOCKET_SOAK_NAME: `soak-${process.pid}`,
  LOCALSOCKET_SOAK_T0: String(Date.now()),
  LOCALSOCKET_SOAK_SAMPLE_MS: String(options.sampleS * 1000),
};
for (const dir of [env.XDG_RUNTIME_DIR!, env.TMPDIR!, env.XDG_CONFIG_HOME!]) fs.mkdirSync(dir, { mode: 0o700 });
const t0 = Number(env.LOCALSOCKET_SOAK_T0);
const now = (): number => (Date.now() - t0) / 1000;

// ---- processes --------------------------------------------------------------------------

interface Proc {
  label: string;
  role: string;
  child: ChildProcess;
  pid: number;
  startedAt: number;
  endedAt: number | null;
  /** Why it ended: killed by the run (a fault), stopped at the end, or exited on its own (unexpected). */
  end: 'killed' | 'stopped' | 'exited' | null;
  samples: Sample[];
  counts: CountsByKind | null;
  /** Operations pending at its last sample (for a killed client: lost with the process). */
  pending: number;
  final: boolean;
  ready: Promise<boolean>;
  exited: Promise<void>;
}

const all: Proc[] = [];
const live = new Set<Proc>();
let daemon: Proc | null = null;
const clientSlots: Proc[] = [];
const findings: string[] = [];

function spawn(label: string, role: string, script: string, args: string[]): Proc {
  const child = fork(path.join(here, script), args, { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: ['--expose-gc'] });
  let onReady!: (ok: boolean) => void;
  const proc: Proc = {
    label, role, child, pid: child.pid ?? -1, startedAt: now(), endedAt: null, end: null,
    samples: [], counts: null, pending: 0, final: false,
    ready: new Promise<boolean>((resolve) => (onReady = resolve)),
    exited: new Promise<void>((resolve) => child.once('exit', () => resolve())),
  };
  child.on('message', (m: ChildMessage) => {
    if (m.type === 'ready') onReady(true);
    else {
      proc.samples.push(m.sample);
      if (m.counts) proc.counts = m.counts;
      if (m.type === 'sample') proc.pending = m.pending ?? 0;
      else {
        proc.final = true;
        proc.pending = 0;
      }
    }
  });
  child.once('exit', (code, signal) => {
    onReady(false);
    live.delete(proc);
    proc.endedAt = now();
    if (proc.end === null) {
      proc.end = 'exited';
      if (!stopping) findings.push(`${label} (pid ${proc.pid}) exited on its own (code ${code}, signal ${signal}) at ${proc.endedAt.toFixed(0)} s`);
    }
  });
  all.push(proc);
  live.add(proc);
  return proc;
}

async function kill(proc: Proc): Promise<void> {
  if (proc.end !== null) return;
  proc.end = 'killed';
  proc.child.kill('SIGKILL');
  await proc.exited;
}

let daemonStarts = 0;
async function startDaemon(): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const proc = spawn(`daemon#${++daemonStarts}`, 'daemon', 'daemon.js', []);
    const ready = await within(proc.ready, 20_000, false);
    if (ready) {
      daemon = proc;
      return;
    }
    findings.push(`the daemon did not start (attempt ${attempt}) at ${now().toFixed(0)} s`);
    await kill(proc);
    if (attempt >= 3) throw new Error('the daemon does not start');
  }
}

// ---- the schedule -------------------------------------------------------------------------

let stopping = false;
let daemonOps: Promise<void> = Promise.resolve();
let daemonStopped = false;
const events = { daemonKills: 0, daemonStops: 0, clientKills: 0 };

function onDaemon(op: () => Promise<void>): void {
  daemonOps = daemonOps.then(() => (stopping ? undefined : op())).catch((err: unknown) => {
    findings.push(`daemon operation failed: ${String(err)}`);
  });
}

function restartDaemon(): Promise<void> {
  return (async () => {
    events.daemonKills++;
    if (daemon) await kill(daemon);
    await startDaemon();
  })();
}

async function pauseDaemon(): Promise<void> {
  const proc = daemon;
  if (!proc || proc.end !== null) return;
  events.daemonStops++;
  daemonStopped = true;
  proc.child.kill('SIGSTOP');
  await sleep(STOP_FOR_S * 1000);
  proc.child.kill('SIGCONT');
  daemonStopped = false;
}

let victim = 0;
async function replaceClient(): Promise<void> {
  // Slot 0 (mixed) is never killed: it is the run's long-lived witness.
  victim = (victim % (clientSlots.length - 1)) + 1;
  const old = clientSlots[victim]!;
  events.clientKills++;
  await kill(old);
  if (stopping) return;
  const proc = spawn(`${old.role}#${victim}`, old.role, 'client.js', [old.role]);
  clientSlots[victim] = proc;
  await proc.ready;
}

// ---- cleanup, whatever happens ---------------------------------------------------------------

function killAll(): void {
  for (const proc of live) {
    try {
      proc.child.kill('SIGCONT');
      proc.child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function removeRoot(): void {
  fs.rmSync(root, { recursive: true, force: true });
}

process.on('exit', () => {
  killAll();
  removeRoot();
});
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    console.error(`\nsoak: ${signal}: stopping every process and removing ${root}`);
    killAll();
    removeRoot();
    process.exit(130);
  });
}

// ---- the run ----------------------------------------------------------------------------------

console.error(`soak: ${options.minutes} min; daemon killed every ${DAEMON_KILL_S} s, a client every ${CLIENT_KILL_S} s, daemon stopped ${STOP_FOR_S} s every ${STOP_EVERY_S} s; samples every ${options.sampleS} s, warm-up ${warmupS} s`);
await startDaemon();
ROLES.forEach((role, i) => clientSlots.push(spawn(`${role}#${i}`, role, 'client.js', [role])));
await Promise.all(clientSlots.map((p) => p.ready));

const timers: NodeJS.Timeout[] = [];
timers.push(setInterval(() => onDaemon(restartDaemon), DAEMON_KILL_S * 1000));
timers.push(setTimeout(() => {
  onDaemon(pauseDaemon);
  timers.push(setInterval(() => onDaemon(pauseDaemon), STOP_EVERY_S * 1000));
}, STOP_FIRST_S * 1000));
let clientOps: Promise<void> = Promise.resolve();
timers.push(setInterval(() => {
  clientOps = clientOps.then(() => (stopping ? undefined : replaceClient()));
}, CLIENT_KILL_S * 1000));
const progress = setInterval(() => {
  const m = now() / 60;
  process.stderr.write(`soak: ${m.toFixed(1)} / ${options.minutes} min; daemon kills ${events.daemonKills}, stops ${events.daemonStops}, client kills ${events.clientKills}\n`);
}, Math.max(10_000, Math.min(300_000, durationS * 1000 / 6)));

await sleep(durationS * 1000);
stopping = true;
for (const t of timers) clearInterval(t);
clearInterval(progress);
await daemonOps;
await clientOps;
const current = daemon as Proc | null;
if (daemonStopped && current) current.child.kill('SIGCONT');
if (!current || current.end !== null) await startDaemon();

// The clients finish what they started (each operation has a deadline), then report.
const FINISH_MS = 60_000;
const clientsAtEnd = clientSlots.filter((p) => p.end === null);
for (const p of clientsAtEnd) p.child.send({ type: 'stop' });
await within(Promise.all(clientsAtEnd.map((p) => p.exited)), FINISH_MS, null);
for (const p of clientsAtEnd) {
  if (!p.final) findings.push(`${p.label} (pid ${p.pid}) did not finish within ${FINISH_MS / 1000} s of the stop`);
  if (p.end === null || p.end === 'exited') p.end = 'stopped';
}
const lastDaemon = daemon!;
lastDaemon.child.send({ type: 'stop' });
await within(lastDaemon.exited, 10_000, null);
if (lastDaemon.end === null || lastDaemon.end === 'exited') lastDaemon.end = 'stopped';
killAll();
await Promise.all(all.map((p) => p.exited));

// ---- analysis -----------------------------------------------------------------------------------

interface ProcRow {
  label: string;
  pids: string;
  lifeS: number;
  samples: number;
  judgedSamples: number;
  rss: Trend;
  fds: Trend;
  heap: Trend;
  handles: Trend;
  growing: string[];
}

function series(samples: Sample[], pick: (s: Sample) => number): Point[] {
  return samples.map((s) => ({ t: s.t, v: pick(s) }));
}

function rowFor(label: string, pids: string, lifeS: number, all: number, samples: Sample[]): ProcRow {
  const rss = trend(series(samples, (s) => s.rss), RSS_THRESHOLD);
  const fds = trend(series(samples, (s) => s.fds), FD_THRESHOLD);
  const growing: string[] = [];
  if (rss.growing) growing.push('RSS');
  if (fds.growing) growing.push('fds');
  return {
    label, pids, lifeS, samples: all, judgedSamples: samples.length, rss, fds,
    heap: trend(series(samples, (s) => s.heapUsed), RSS_THRESHOLD),
    handles: trend(series(samples, (s) => s.handles), FD_THRESHOLD),
    growing,
  };
}

const rows: ProcRow[] = [];
for (const p of all.filter((p) => p.role !== 'daemon')) {
  const after = p.samples.filter((s) => s.age >= warmupS);
  rows.push(rowFor(p.label, String(p.pid), (p.endedAt ?? now()) - p.startedAt, p.samples.length, after));
}
// The daemon lives 30 s at a time: its series is the last sample of each incarnation started after warm-up.
const daemons = all.filter((p) => p.role === 'daemon');
const daemonLast = daemons.filter((p) => p.startedAt >= warmupS && p.samples.length > 0).map((p) => p.samples[p.samples.length - 1]!);
rows.push(rowFor(`daemon (last sample of each of ${daemons.length} incarnations)`, `${daemons.length} pids`, durationS, daemons.reduce((n, p) => n + p.samples.length, 0), daemonLast));

function addOutcomes(into: Outcomes, from: Outcomes): void {
  into.started += from.started;
  into.ok += from.ok;
  into.unstated += from.unstated;
  into.neverSettled += from.neverSettled;
  into.twice += from.twice;
  into.wrong += from.wrong;
  for (const [code, n] of Object.entries(from.failed)) into.failed[code] = (into.failed[code] ?? 0) + n;
}

const totals = emptyCounts();
let lostWithKilled = 0;
for (const p of all) {
  if (!p.counts) continue;
  for (const kind of KINDS) addOutcomes(totals[kind], p.counts[kind]);
  if (p.end === 'killed') lostWithKilled += p.pending;
}
const bad = { neverSettled: 0, twice: 0, wrong: 0, unstated: 0 };
for (const kind of KINDS) {
  bad.neverSettled += totals[kind].neverSettled;
  bad.twice += totals[kind].twice;
  bad.wrong += totals[kind].wrong;
  bad.unstated += totals[kind].unstated;
}
for (const r of rows) if (r.growing.length > 0) findings.push(`${r.label}: ${r.growing.join(' and ')} keep growing after warm-up`);
if (bad.neverSettled) findings.push(`${bad.neverSettled} operations never settled`);
if (bad.twice) findings.push(`${bad.twice} operations settled or delivered twice`);
if (bad.wrong) findings.push(`${bad.wrong} wrong answers`);
if (bad.unstated) findings.push(`${bad.unstated} failures without a LocalSocketError`);

// ---- report ------------------------------------------------------------------------------------

const MiB = 1024 * 1024;
const mib = (v: number): string => (Number.isFinite(v) ? (v / MiB).toFixed(1) : '-');
const int = (v: number): string => (Number.isFinite(v) ? v.toFixed(0) : '-');
const pct = (t: Trend): string => (t.judged ? `${(t.growth * 100).toFixed(1)}%` : 'n/a');

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

const procTable = table(
  ['process', 'pid', 'life s', 'samples (judged)', 'RSS MiB first/last/max', 'RSS growth', 'fds first/last/max', 'fd growth', 'heap MiB first/last/max', 'handles first/last/max', 'verdict'],
  rows.map((r) => [
    r.label, r.pids, r.lifeS.toFixed(0), `${r.samples} (${r.judgedSamples})`,
    `${mib(r.rss.first)}/${mib(r.rss.last)}/${mib(r.rss.max)}`, pct(r.rss),
    `${int(r.fds.first)}/${int(r.fds.last)}/${int(r.fds.max)}`, r.fds.judged ? (r.fds.endMedian - r.fds.startMedian).toFixed(0) : 'n/a',
    `${mib(r.heap.first)}/${mib(r.heap.last)}/${mib(r.heap.max)}`,
    `${int(r.handles.first)}/${int(r.handles.last)}/${int(r.handles.max)}`,
    r.growing.length > 0 ? `GROWING (${r.growing.join(', ')})` : r.rss.judged ? 'flat' : 'too short to judge',
  ]),
);
const outcomeTable = table(
  ['kind', 'started', 'right answer', 'failed (stated code: n)', 'never settled', 'twice', 'wrong', 'unstated'],
  KINDS.map((k: Kind) => {
    const o = totals[k];
    const failed = Object.entries(o.failed).sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c}: ${n}`).join(', ');
    return [k, String(o.started), String(o.ok), failed || '-', String(o.neverSettled), String(o.twice), String(o.wrong), String(o.unstated)];
  }),
);
const summary = [
  `soak: ${options.minutes} min on ${os.cpus().length} CPUs, Node ${process.version}; warm-up ${warmupS} s; samples every ${options.sampleS} s`,
  `faults: daemon SIGKILLed and restarted ${events.daemonKills} times, SIGSTOPped ${STOP_FOR_S} s ${events.daemonStops} times; client processes SIGKILLed and replaced ${events.clientKills} times`,
  `operations pending in client processes at their kill (outcome lost with the process, not counted above): ${lostWithKilled}`,
  `"keeps growing" = after warm-up (>= 6 samples), Theil-Sen slope > 0 and median of the last third > median of the first third by more than max(10%, 4 MiB) for RSS, max(10%, 3) for fds`,
  '',
  procTable,
  '',
  outcomeTable,
  '',
  findings.length === 0 ? 'result: PASS' : `result: FAIL\n${findings.map((f) => `- ${f}`).join('\n')}`,
].join('\n');

fs.mkdirSync(path.dirname(options.report), { recursive: true });
fs.writeFileSync(options.report, JSON.stringify({
  minutes: options.minutes, node: process.version, cpus: os.cpus().length, warmupS, sampleS: options.sampleS,
  events, lostWithKilled, totals, bad, findings, pass: findings.length === 0,
  processes: rows,
  samples: all.map((p) => ({ label: p.label, role: p.role, pid: p.pid, startedAt: p.startedAt, endedAt: p.endedAt, end: p.end, final: p.final, samples: p.samples })),
}, null, 1));
if (options.table) fs.writeFileSync(options.table, `${summary}\n`);
console.log(summary);
console.error(`soak: report written to ${options.report}`);
process.exitCode = findings.length === 0 ? 0 : 1;
