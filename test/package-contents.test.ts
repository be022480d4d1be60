/**
 * What the tarball carries (`npm pack --dry-run`): every file its documents
 * link to, one copy of the library (the CLI runs on the package build), no
 * source maps, and no install-time script (npm 11 warns every consumer about
 * one, `prepare` included).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { distDir, isWindows } from './helpers.js';

const repo = path.resolve(distDir, '..');
const skip = isWindows && 'npm pack runs on the host (the Windows suite runs node.exe under Wine, without npm)';

interface Packed {
  files: { path: string }[];
}

function packedFiles(): Set<string> {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repo, encoding: 'utf8' })) as Packed[];
  return new Set(packed!.files.map((f) => f.path));
}

test('the tarball: linked files shipped, one copy of the library, no source maps, the bin in place', { skip }, () => {
  const files = packedFiles();
  // Every relative link in a shipped document points at a shipped file.
  const docs = [...files].filter((f) => f.endsWith('.md'));
  assert.ok(docs.includes('README.md') && docs.includes('docs/PROTOCOL.md'), `documents: ${docs.join(', ')}`);
  const dead: string[] = [];
  for (const doc of docs) {
    const text = fs.readFileSync(path.join(repo, doc), 'utf8');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:|^#/.test(target!)) continue;
      const file = path.posix.normalize(path.posix.join(path.posix.dirname(doc), target!.split('#')[0]!));
      if (!files.has(file) && ![...files].some((f) => f.startsWith(`${file}/`))) dead.push(`${doc} -> ${target}`);
    }
  }
  assert.deepEqual(dead, [], 'links to files the tarball does not carry');
  for (const needed of ['clients/python/localsocket.py', 'clients/python/test_localsocket.py', 'docs/test-vectors.json']) assert.ok(files.has(needed), needed);
  // One copy: the library's modules only under dist/cjs; dist/esm is the re-exporting entry.
  const js = [...files].filter((f) => f.endsWith('.js') && f.startsWith('dist/'));
  assert.deepEqual(js.filter((f) => !f.startsWith('dist/cjs/')), ['dist/esm/index.js']);
  assert.deepEqual([...files].filter((f) => f.endsWith('.map')), []);
  const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { bin: Record<string, string>; scripts: Record<string, string> };
  const bin = path.posix.normalize(pkg.bin.localsocket!);
  assert.ok(files.has(bin), `bin ${bin} is shipped`);
  assert.ok(bin.startsWith('dist/cjs/'), 'the CLI runs on the package build');
  assert.match(fs.readFileSync(path.join(repo, bin), 'utf8'), /^#!\/usr\/bin\/env node\n/);
});

test('no install-time lifecycle script (npm 11 warns consumers about each)', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  for (const script of ['preinstall', 'install', 'postinstall', 'prepare']) assert.equal(pkg.scripts[script], undefined, script);
});
