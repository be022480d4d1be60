/**
 * The import rule of docs/ARCHITECTURE.md, checked on the source: run-time
 * imports go down the layers only (shared plumbing, endpoint, connection,
 * server, message layer, CLI), and they form no cycle. `import type` is
 * erased at build time and does not count. The endpoint layer is recognised
 * both in src/endpoint/ and by its module names, so the rule holds across
 * the move of those files into that folder.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { distDir } from './helpers.js';

const SRC = path.resolve(distDir, '..', 'src');

const LAYER_NAMES = ['shared plumbing', 'endpoint', 'connection', 'server', 'message layer', 'CLI', 'public surface'] as const;
const ENDPOINT = new Set(['platform', 'names', 'private-dir', 'short-path', 'name-lock', 'bind', 'dial', 'fd-name', 'pipe-record', 'pipe-claim']);
const CONNECTION = new Set(['options', 'preset', 'socket-stream', 'socket', 'writer', 'read-buffer', 'line', 'connector', 'admission']);

/** The layer of a module, by its path below src/ (with `/`, without `.ts`). */
function layerOf(module: string): number {
  const base = module.split('/').pop()!;
  if (module === 'index') return 6;
  if (module.startsWith('cli/')) return 5;
  if (module.startsWith('messages/')) return 4;
  if (module === 'server') return 3;
  if (module.startsWith('auth/') || CONNECTION.has(module)) return 2;
  if (module.startsWith('endpoint/') || ENDPOINT.has(base)) return 1;
  return 0;
}

function modules(dir = SRC): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? modules(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.relative(SRC, path.join(dir, e.name)).split(path.sep).join('/').slice(0, -3)] : [],
  );
}

/** The modules `module` imports (or re-exports from) at run time. */
function runtimeImports(module: string): string[] {
  const text = fs.readFileSync(path.join(SRC, `${module}.ts`), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?([^;]*?)\s+from\s+'(\.{1,2}\/[^']+)\.js';/gms)) {
    const [, , typeOnly, what, target] = m;
    if (typeOnly) continue;
    // `import { type A, type B }` is erased too.
    const names = what!.trim();
    if (names.startsWith('{') && names.slice(1, -1).split(',').every((n) => n.trim() === '' || n.trim().startsWith('type '))) continue;
    out.push(path.posix.normalize(path.posix.join(path.posix.dirname(module), target!)));
  }
  return out;
}

const all = modules();
const graph = new Map(all.map((m) => [m, runtimeImports(m)]));

test('the source is read: every layer has modules, and every import names a module', () => {
  assert.ok(all.length > 40, `${all.length} modules`);
  for (let layer = 0; layer < LAYER_NAMES.length; layer++) assert.ok(all.some((m) => layerOf(m) === layer), LAYER_NAMES[layer]);
  for (const [module, imports] of graph) for (const target of imports) assert.ok(graph.has(target), `${module} imports ${target}, which is not a module`);
  assert.ok(graph.get('messages/message-socket')!.includes('socket'), 'run-time imports are found');
});

test('run-time imports go down the layers only', () => {
  const up: string[] = [];
  for (const [module, imports] of graph) {
    for (const target of imports) {
      if (layerOf(target) > layerOf(module)) up.push(`${module} (${LAYER_NAMES[layerOf(module)]}) imports ${target} (${LAYER_NAMES[layerOf(target)]})`);
    }
  }
  assert.deepEqual(up, []);
});

test('run-time imports form no cycle', () => {
  const done = new Set<string>();
  const cycles: string[] = [];
  const visit = (module: string, stack: string[]): void => {
    if (stack.includes(module)) {
      cycles.push([...stack.slice(stack.indexOf(module)), module].join(' -> '));
      return;
    }
    if (done.has(module)) return;
    for (const target of graph.get(module) ?? []) visit(target, [...stack, module]);
    done.add(module);
  };
  for (const module of all) visit(module, []);
  assert.deepEqual(cycles, []);
});
