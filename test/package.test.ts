/**
 * The package as users load it: `require('localsocket')` and
 * `import('localsocket')` (resolved through package.json "exports", as a
 * dependency would be) give the same classes, and errors are recognised
 * across separately loaded copies of the package.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import fs from 'node:fs';
import { test } from 'node:test';
import * as source from '../src/index.js';
import { fullName, tempDir } from './helpers.js';

type Lib = typeof source;
const required = createRequire(import.meta.url)('localsocket') as Lib;
const imported = (await import('localsocket' as string)) as Lib;

test('require() and import() of the package see one copy of each class', () => {
  assert.equal(imported.LocalSocketError, required.LocalSocketError);
  assert.equal(imported.LocalSocket, required.LocalSocket);
  assert.equal(imported.LocalServer, required.LocalServer);
  assert.deepEqual(Object.keys(imported).sort(), Object.keys(required).filter((k) => k !== '__esModule').sort());
});

test('an error thrown to a require() user is instanceof the class an import user sees', async () => {
  const dir = tempDir();
  try {
    const err = await required.connect(fullName(dir, 'nobody-here'), { auth: false, timeout: 5000 }).then(
      () => assert.fail('connected to nothing'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof imported.LocalSocketError);
    assert.ok(imported.isLocalSocketError(err, 'SERVER_NOT_FOUND'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('LocalSocketError instanceof holds across two loaded copies of the package (Symbol.for brand)', () => {
  // The tests' own copy (compiled from src as ESM) is a different class from the package's CommonJS build.
  assert.notEqual(source.LocalSocketError, required.LocalSocketError);
  const fromPackage = new required.LocalSocketError('TIMEOUT', 'x');
  const fromSource = new source.LocalSocketError('ABORTED', 'y');
  assert.ok(fromPackage instanceof source.LocalSocketError);
  assert.ok(fromSource instanceof required.LocalSocketError);
  assert.ok(source.isLocalSocketError(fromPackage, 'TIMEOUT'));
  assert.ok(!(new Error('plain') instanceof source.LocalSocketError));
  assert.ok(!({ code: 'TIMEOUT' } instanceof source.LocalSocketError));
});

test('a subclass of LocalSocketError keeps the ordinary prototype check', () => {
  class Special extends source.LocalSocketError {}
  assert.ok(new Special('UNKNOWN', 'x') instanceof Special);
  assert.ok(new Special('UNKNOWN', 'x') instanceof source.LocalSocketError);
  assert.ok(!(new source.LocalSocketError('UNKNOWN', 'x') instanceof Special));
});

test('the package entry points exist where package.json says', () => {
  const pkg = JSON.parse(fs.readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('localsocket')), '..', '..', 'package.json'), 'utf8')) as {
    exports: Record<string, Record<string, Record<string, string>>>;
  };
  const root = path.join(path.dirname(createRequire(import.meta.url).resolve('localsocket')), '..', '..');
  for (const condition of ['import', 'require']) {
    for (const file of Object.values(pkg.exports['.']![condition]!)) assert.ok(fs.existsSync(path.join(root, file)), file);
  }
});
