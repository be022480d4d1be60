// A node:test reporter that prints how long each test file took, slowest first, when the run
// ends: where a slow run spends its time (CI prints it for the Windows suite under Wine, where
// every file pays for a node.exe start). Use it beside another reporter:
//   node --test --test-reporter=tap --test-reporter-destination=stdout \
//     --test-reporter=./scripts/file-times-reporter.mjs --test-reporter-destination=stderr FILES
// A file's time runs from the end of the file that ended before it (so it includes its process's
// start) to its own last event; exact when files run one at a time (--test-concurrency=1),
// overlapping otherwise. Times are read off the clock as events arrive; nothing here is judged.
import path from 'node:path';

const TOP = 12;

export default async function* fileTimes(source) {
  const runStart = Date.now();
  const lastEvent = new Map(); // file -> time of its last event
  for await (const event of source) {
    const file = event.data?.file;
    if (file !== undefined) lastEvent.set(file, Date.now());
  }
  // In the order the files ended, each one's span starts where the one before it ended.
  const ends = [...lastEvent].sort((a, b) => a[1] - b[1]);
  const spans = ends.map(([file, end], i) => [file, end - (i === 0 ? runStart : ends[i - 1][1])]);
  const rows = spans.sort((a, b) => b[1] - a[1]);
  const total = (Date.now() - runStart) / 1000;
  let out = `\n# time per test file (${rows.length} files, ${total.toFixed(1)} s in all; the ${Math.min(TOP, rows.length)} slowest)\n`;
  for (const [file, ms] of rows.slice(0, TOP)) out += `#   ${(ms / 1000).toFixed(1).padStart(7)} s  ${path.basename(file)}\n`;
  yield out;
}
