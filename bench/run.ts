/**
 * `npm run bench`: localsocket against raw Node `net`, side by side in one run.
 *
 *   node dist/bench/run.js [scenario ...] [--quick] [--reps=N] [--cpu-prof=DIR]
 *
 * Every scenario runs both implementations over Unix sockets (named pipes on
 * Windows), alternating, after a warm-up, and reports the median of its
 * repetitions. Prints a table and writes bench/results.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchDir, cleanupRawDir, newKeyHex, type BenchConfig, type Row, type ScenarioResult } from './common.js';

interface Scenario {
  name: string;
  run(config: BenchConfig): Promise<ScenarioResult>;
}

const SCENARIOS = ['bulk', 'roundtrip', 'connect', 'small-writes', 'memory', 'many-clients', 'messages', 'first-answer', 'broadcast', 'diagnostics'] as const;

function parseArgs(argv: string[]): { only: string[]; config: BenchConfig } {
  const only: string[] = [];
  const config: BenchConfig = { reps: 7, quick: false, cpuProfDir: null, keyHex: newKeyHex() };
  for (const arg of argv) {
    if (arg === '--quick') config.quick = true;
    else if (arg.startsWith('--reps=')) config.reps = Math.max(1, Number.parseInt(arg.slice(7), 10));
    else if (arg.startsWith('--cpu-prof=')) config.cpuProfDir = path.resolve(arg.slice(11));
    else if ((SCENARIOS as readonly string[]).includes(arg)) only.push(arg);
    else {
      console.error(`unknown argument ${arg}; scenarios: ${SCENARIOS.join(', ')}`);
      process.exit(2);
    }
  }
  if (config.cpuProfDir) fs.mkdirSync(config.cpuProfDir, { recursive: true });
  return { only, config };
}

// ---- table -----------------------------------------------------------------------

function fmt(value: number | null, unit: string): string {
  if (value === null || Number.isNaN(value)) return '-';
  if (unit === 'GB/s') return value.toFixed(2);
  if (unit === 'µs') return value.toFixed(1);
  if (unit === 'bytes') return value.toFixed(0);
  if (unit.endsWith('/s')) return value >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : value >= 1e3 ? `${(value / 1e3).toFixed(1)}k` : value.toFixed(0);
  if (unit === 'KiB') return value.toFixed(1);
  return value.toPrecision(4);
}

function table(rows: Row[]): string {
  const header = ['scenario', 'metric', 'unit', 'raw net', 'localsocket', 'ratio', 'target', 'result'];
  const body = rows.map((r) => [
    r.scenario,
    r.metric,
    r.unit,
    fmt(r.raw, r.unit),
    fmt(r.ours, r.unit),
    r.ratio === null || Number.isNaN(r.ratio) ? '-' : `${r.ratio.toFixed(2)}x`,
    r.target ?? '',
    r.pass === undefined ? '' : r.pass ? 'PASS' : 'FALL SHORT',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

// ---- main ----------------------------------------------------------------------------

const { only, config } = parseArgs(process.argv.slice(2));
const started = Date.now();
const selected = only.length > 0 ? SCENARIOS.filter((s) => only.includes(s)) : [...SCENARIOS];
const results: ScenarioResult[] = [];
console.error(`localsocket bench: ${selected.join(', ')}; ${config.reps} repetitions${config.quick ? ', QUICK sizes' : ''}; ${os.cpus().length} CPUs, Node ${process.version}, ${process.platform}`);
// Safety valve for slower machines: the whole run (build aside) must stay well
// inside 5 minutes. Sizes are never cut; if the run is projected to overshoot,
// later scenarios get fewer repetitions (at least 3), and the output says so.
const BUDGET_SECONDS = 240;
const budgetNotes: string[] = [];
let reps = config.reps;
try {
  for (const [index, name] of selected.entries()) {
    const elapsed = (Date.now() - started) / 1000;
    if (index > 0 && reps > 3) {
      const projected = elapsed + (elapsed / index) * (selected.length - index);
      if (projected > BUDGET_SECONDS) {
        const fewer = Math.max(3, Math.floor((reps * (BUDGET_SECONDS - elapsed)) / (projected - elapsed)));
        if (fewer < reps) {
          budgetNotes.push(`time budget: ${fewer} repetitions instead of ${reps} from "${name}" on (sizes kept)`);
          reps = fewer;
        }
      }
    }
    const mod = (await import(`./${name}.js`)) as Scenario;
    const t0 = Date.now();
    console.error(`- ${name}`);
    const result = await mod.run({ ...config, reps });
    result.seconds = (Date.now() - t0) / 1000;
    console.error(`  (${result.seconds.toFixed(1)} s)`);
    results.push(result);
  }
} finally {
  cleanupRawDir();
}
const totalSeconds = (Date.now() - started) / 1000;
const rows = results.flatMap((r) => r.rows);
const notes = [...budgetNotes, ...results.flatMap((r) => r.notes.map((n) => `${r.name}: ${n}`))];

console.log('');
console.log(table(rows));
console.log('');
console.log('note: every scenario runs its server and its client(s) in separate processes (forked bench workers), for both implementations; the 200 clients of many-clients share one process.');
console.log(`note: ${config.quick ? 'QUICK RUN - SIZES REDUCED, NOT A RECORD' : 'full sizes everywhere (1 GiB, 20,000, 2,000,000, 1,000 connections, 200 clients)'}; ${config.reps} repetitions per implementation after a warm-up, alternating; figures are medians.`);
for (const note of notes) console.log(`note: ${note}`);
const targeted = rows.filter((r) => r.pass !== undefined);
const passed = targeted.filter((r) => r.pass).length;
console.log(`${passed}/${targeted.length} targets met; bench time ${totalSeconds.toFixed(1)} s (${os.cpus().length} CPUs, Node ${process.version}, ${process.platform} ${os.arch()})`);

const out = path.resolve(benchDir, '..', '..', 'bench', 'results.json');
fs.writeFileSync(
  out,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      platform: `${process.platform} ${os.arch()}`,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model,
      config: { reps: config.reps, quick: config.quick, cpuProf: config.cpuProfDir },
      totalSeconds,
      targetsMet: passed,
      targets: targeted.length,
      rows,
      notes,
      scenarios: results,
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${path.relative(process.cwd(), out)}`);
