/**
 * Shared bench plumbing: forking worker processes and talking to them over the
 * IPC channel (control only, never on a timed path), statistics, and the
 * result types every scenario returns.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = path.dirname(fileURLToPath(import.meta.url));

// ---- configuration ---------------------------------------------------------

export interface BenchConfig {
  /** Repetitions per implementation (after warm-up); scenarios may scale this. */
  reps: number;
  /** Reduced sizes, for a quick look while developing. Never used for the recorded run. */
  quick: boolean;
  /** Directory for --cpu-prof output of every worker, or null. */
  cpuProfDir: string | null;
  /** Shared in-memory key (hex) so the bench never touches ~/.config. */
  keyHex: string;
}

export function keyFromHex(hex: string): Buffer {
  return Buffer.from(hex, 'hex');
}

export function newKeyHex(): string {
  return randomBytes(32).toString('hex');
}

/** A fresh short name for `listen()` (lands in the per-user private directory). */
export function uniqueName(prefix: string): string {
  return `lsb-${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** A fresh path for a raw `net` server: a socket in a private temp directory, or a named pipe on Windows. */
let rawDir: string | null = null;
export function rawSocketPath(prefix: string): string {
  if (process.platform === 'win32') return `\\\\.\\pipe\\lsb-${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  rawDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'lsb-'));
  return path.join(rawDir, `${prefix}-${randomBytes(3).toString('hex')}.sock`);
}

export function cleanupRawDir(): void {
  if (rawDir) fs.rmSync(rawDir, { recursive: true, force: true });
  rawDir = null;
}

// ---- workers -----------------------------------------------------------------

export type Impl = 'raw' | 'ours';

type Command = (args: any) => unknown;
export type Commands = Record<string, Command>;

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

export interface Worker {
  readonly pid: number;
  call<T = unknown>(cmd: string, args?: unknown): Promise<T>;
  /** Asks the worker to exit (so a --cpu-prof profile is written) and waits for it. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Forks `dist/bench/worker.js` serving the commands exported by `module`
 * (a scenario file, e.g. 'bulk'). Each worker is its own process: the server
 * and the client of a scenario never share an event loop.
 */
export async function spawnWorker(module: string, config: BenchConfig, opts: { exposeGc?: boolean; label?: string; execArgv?: string[] } = {}): Promise<Worker> {
  const execArgv: string[] = [...(opts.execArgv ?? [])];
  if (opts.exposeGc) execArgv.push('--expose-gc');
  if (config.cpuProfDir) {
    execArgv.push('--cpu-prof', `--cpu-prof-dir=${config.cpuProfDir}`, `--cpu-prof-name=${module}-${opts.label ?? 'w'}-\${pid}.cpuprofile`);
  }
  const child = fork(path.join(benchDir, 'worker.js'), [module], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, LSB_KEY: config.keyHex },
  });
  live.add(child);
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = true;
      live.delete(child);
      for (const p of pending.values()) p.reject(new Error(`worker ${module} exited (${code ?? signal})`));
      pending.clear();
      resolve();
    });
  });
  child.on('message', (msg: Reply) => {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.ok) p.resolve(msg.value);
    else p.reject(new Error(`worker ${module}: ${msg.error}`));
  });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve()); // the 'ready' hello
    child.once('exit', () => reject(new Error(`worker ${module} failed to start`)));
  });
  return {
    pid: child.pid!,
    call<T>(cmd: string, args?: unknown): Promise<T> {
      if (exited) return Promise.reject(new Error(`worker ${module} is gone`));
      const id = nextId++;
      return new Promise<T>((resolve, reject) => {
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
        child.send({ id, cmd, args });
      });
    },
    async stop(): Promise<void> {
      if (exited) return;
      child.send({ id: 0, cmd: '__exit' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(timer);
    },
  };
}

/**
 * Pins every thread of process `pid` to CPU `cpu` (Linux `taskset -a -p`; threads made later
 * inherit it). Returns false where that is not possible (no taskset, not Linux): the caller says so.
 */
export function pinToCpu(pid: number, cpu: number): boolean {
  if (process.platform !== 'linux') return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// ---- statistics ----------------------------------------------------------------

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile of an already sorted array. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export function sortedCopy(xs: ArrayLike<number>): Float64Array {
  return Float64Array.from(xs as ArrayLike<number>).sort();
}

export const nowNs = (): number => Number(process.hrtime.bigint());

/**
 * Times `count` runs of each kind, interleaved (the kinds rotate by `rep` so
 * none always goes first), and returns each kind's p50 and p99 in µs;
 * `once` returns one run's time in ns.
 */
export async function interleavedPercentiles<K extends string>(
  kinds: readonly K[],
  count: number,
  rep: number,
  once: (kind: K) => Promise<number>,
): Promise<Record<K, { p50: number; p99: number }>> {
  const times = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<K, number[]>;
  for (let i = 0; i < count; i++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(i + k + rep) % kinds.length]!;
      times[kind].push(await once(kind));
    }
  }
  const out = {} as Record<K, { p50: number; p99: number }>;
  for (const kind of kinds) {
    const sorted = sortedCopy(times[kind]);
    out[kind] = { p50: percentileSorted(sorted, 50) / 1000, p99: percentileSorted(sorted, 99) / 1000 };
  }
  return out;
}

/** Resident set size, in bytes, after collecting garbage (needs --expose-gc). */
export async function settledRss(): Promise<{ rss: number; heapUsed: number; external: number }> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 4; i++) {
    gc?.();
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 50));
  gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external + m.arrayBuffers };
}

// ---- results ---------------------------------------------------------------------

export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  /** Baseline (raw `net`) median. */
  raw: number | null;
  /** localsocket median. */
  ours: number | null;
  /** ours / raw. */
  ratio: number | null;
  /** e.g. ">= 0.95" (applies to ratio); absent when the row is informational. */
  target?: string;
  pass?: boolean;
  /** Every repetition, for the JSON. */
  rawReps?: number[];
  oursReps?: number[];
  /** Median of ours/raw taken pair by pair (each pair ran back to back): steadier when the machine drifts. */
  pairedRatio?: number;
}

export interface ScenarioResult {
  name: string;
  rows: Row[];
  notes: string[];
  /** Anything else worth keeping: sizes, repetitions, per-run figures. */
  details: Record<string, unknown>;
  seconds?: number;
}

export function ratioRow(
  scenario: string,
  metric: string,
  unit: string,
  rawReps: number[],
  oursReps: number[],
  target?: { op: '>=' | '<='; value: number },
): Row {
  const raw = median(rawReps);
  const ours = median(oursReps);
  const ratio = ours / raw;
  const pairs = Math.min(rawReps.length, oursReps.length);
  const pairedRatio = median(Array.from({ length: pairs }, (_, i) => oursReps[i]! / rawReps[i]!));
  const row: Row = { scenario, metric, unit, raw, ours, ratio, rawReps, oursReps, pairedRatio };
  if (target) {
    row.target = `${target.op} ${target.value}`;
    row.pass = target.op === '>=' ? ratio >= target.value : ratio <= target.value;
  }
  return row;
}

/** Runs `fn` for each implementation, alternating which goes first, `reps` times. */
export async function alternate(reps: number, fn: (impl: Impl, rep: number) => Promise<void>): Promise<void> {
  for (let rep = 0; rep < reps; rep++) {
    const order: Impl[] = rep % 2 === 0 ? ['raw', 'ours'] : ['ours', 'raw'];
    for (const impl of order) await fn(impl, rep);
  }
}

export function log(msg: string): void {
  process.stderr.write(`  ${msg}\n`);
}
