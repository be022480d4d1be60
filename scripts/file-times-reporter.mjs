// A node:test reporter that prints how long each test file took, slowest first, when the run
// ends: where a slow run spends its time (CI prints it for the Windows suite under Wine, where
// every file pays for a node.exe start). Use it beside another reporter:
//   node --test --test-reporter=tap --test-reporter-destination=stdout \
//     --test-reporter=./scripts/file-times-reporter.mjs --test-reporter-destination=stderr FILES
// A file's time runs from when the runner took it from its queue (so it includes its process's
// start) to its last event. Files run side by side (--test-concurrency=2) overlap, and the runner
// may hold a file's events back until the files before it have reported, so there a time is an
// upper bound. Times are read off the clock as events arrive; nothing here is judged.
import path from 'node:path';

const TOP = 12;

export default async function* fileTimes(source) {
  const runStart = Date.now();
  const start = new Map(); // file -> when the runner started it (its first test:dequeue)
  const end = new Map(); // file -> its last event
  for await (const event of source) {
    const file = event.data?.file;
    if (file === undefined) continue;
    const now = Date.now();
    if (event.type === 'test:dequeue' && !start.has(file)) start.set(file, now);
    end.set(file, now);
  }
  const spans = [...end].map(([file, last]) => [file, last - (start.get(file) ?? runStart)]);
  const rows = spans.sort((a, b) => b[1] - a[1]);
  const total = (Date.now() - runStart) / 1000;
  let out = `\n# time per test file (${rows.length} files, ${total.toFixed(1)} s in all; the ${Math.min(TOP, rows.length)} slowest)\n`;
  for (const [file, ms] of rows.slice(0, TOP)) out += `#   ${(ms / 1000).toFixed(1).padStart(7)} s  ${path.basename(file)}\n`;
  yield out;
}
