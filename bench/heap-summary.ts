/**
 * Summarises V8 heap snapshots by object type: count and self size per (node type, constructor
 * name). With two snapshots, prints what the second has more of, divided by `per` (e.g. the number
 * of connections opened in between): objects and bytes per connection, heaviest first.
 *
 *   node dist/bench/heap-summary.js after.heapsnapshot [before.heapsnapshot per] [top]
 *
 * Self sizes sum to the heap; "retained" sizes would count shared objects several times.
 */
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

function summarise(file: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const fType = fields.indexOf('type');
  const fName = fields.indexOf('name');
  const fSize = fields.indexOf('self_size');
  const out = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + fType]!]!;
    let name = snap.strings[snap.nodes[i + fName]!]!;
    // Strings and numbers by kind, not by content.
    if (type === 'string' || type === 'concatenated string' || type === 'sliced string' || type === 'number') name = '';
    if (name.length > 60) name = `${name.slice(0, 57)}...`;
    const k = `${type}:${name}`;
    const e = out.get(k) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += snap.nodes[i + fSize]!;
    out.set(k, e);
  }
  return out;
}

const [afterFile, beforeFile, perArg, topArg] = process.argv.slice(2);
if (!afterFile) {
  console.error('usage: heap-summary.js after.heapsnapshot [before.heapsnapshot per] [top]');
  process.exit(2);
}
const after = summarise(afterFile);
const before = beforeFile ? summarise(beforeFile) : new Map<string, { count: number; bytes: number }>();
const per = perArg ? Number(perArg) : 1;
const top = topArg ? Number(topArg) : 30;
const rows = [...after].map(([k, a]) => {
  const b = before.get(k) ?? { count: 0, bytes: 0 };
  return { k, count: (a.count - b.count) / per, bytes: (a.bytes - b.bytes) / per };
});
rows.sort((x, y) => y.bytes - x.bytes);
const total = rows.reduce((s, r) => s + r.bytes, 0);
const totalCount = rows.reduce((s, r) => s + r.count, 0);
console.log(`| type:constructor | objects${per !== 1 ? ' per unit' : ''} | bytes${per !== 1 ? ' per unit' : ''} |`);
console.log('|---|---|---|');
for (const r of rows.slice(0, top)) console.log(`| ${r.k} | ${r.count.toFixed(2)} | ${r.bytes.toFixed(0)} |`);
console.log(`| total (all types) | ${totalCount.toFixed(1)} | ${total.toFixed(0)} |`);
