/**
 * The README's typed tour: its contract and program blocks are compiled with
 * the TypeScript compiler against this build's type declarations (strict,
 * no errors allowed), then run; stdout must be the README's output block.
 * The same program with a wrong call must fail to compile, so the check
 * cannot pass by accident.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { distDir, tempDir } from './helpers.js';

const README = path.resolve(distDir, '..', 'README.md');
const require = createRequire(import.meta.url);

/** The fenced block right after `<!-- marker -->`. */
function block(text: string, marker: string): string {
  const at = text.indexOf(`<!-- ${marker} -->`);
  assert.notEqual(at, -1, `README has no ${marker} marker`);
  const match = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(match, `no code block after ${marker}`);
  return match[1]!;
}

/** Type-checks and emits `files` in `dir`; returns the error messages. */
function compile(dir: string, files: string[]): string[] {
  const ts = require('typescript') as typeof import('typescript');
  const program = ts.createProgram(files.map((f) => path.join(dir, f)), {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
    typeRoots: [path.resolve(distDir, '..', 'node_modules', '@types')],
    outDir: dir,
  });
  const result = program.emit();
  return ts.getPreEmitDiagnostics(program).concat(result.diagnostics).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('the typed tour in the README compiles, runs, and prints what the README says', { timeout: 120_000 }, async () => {
  const text = fs.readFileSync(README, 'utf8');
  const contract = block(text, 'typed-tour:contract');
  const tour = block(text, 'typed-tour');
  const expected = block(text, 'typed-tour:output');
  const home = tempDir('lstyped-');
  try {
    const index = path.join(distDir, 'src', 'index.js');
    assert.match(tour, /from 'localsocket';/);
    fs.writeFileSync(path.join(home, 'package.json'), '{"type":"module"}\n');
    fs.writeFileSync(path.join(home, 'contract.ts'), contract);
    fs.writeFileSync(path.join(home, 'tour.ts'), tour.replaceAll("from 'localsocket';", `from ${JSON.stringify(index)};`));
    assert.deepEqual(compile(home, ['contract.ts', 'tour.ts']), [], 'the tour compiles without errors');

    // A wrong call in the same program is a compile error (the contract is really applied).
    fs.writeFileSync(path.join(home, 'wrong.ts'), fs.readFileSync(path.join(home, 'tour.ts'), 'utf8').replace("client.request('sum', [1, 2])", "client.request('sum', ['1', 2])"));
    const errors = compile(home, ['contract.ts', 'wrong.ts']);
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /not assignable to type 'number'/);

    // Node imports absolute paths as file URLs only (a Windows drive letter is not a scheme).
    const emitted = path.join(home, 'tour.js');
    fs.writeFileSync(emitted, fs.readFileSync(emitted, 'utf8').replaceAll(JSON.stringify(index), JSON.stringify(pathToFileURL(index).href)));
    assert.ok(fs.readFileSync(emitted, 'utf8').includes(pathToFileURL(index).href), 'the emitted tour imports this build');
    const runtime = path.join(home, 'run');
    fs.mkdirSync(runtime, { mode: 0o700 });
    fs.chmodSync(runtime, 0o700);
    const child = spawn(process.execPath, [path.join(home, 'tour.js')], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: runtime, XDG_CONFIG_HOME: path.join(home, 'config'), LOCALAPPDATA: path.join(home, 'config'), SYSTEMROOT: process.env.SYSTEMROOT, WINELOADER: process.env.WINELOADER, TMPDIR: home },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((resolve) => child.once('close', (exitCode) => resolve(exitCode)));
    clearTimeout(timer);
    assert.equal(code, 0, `the tour failed: ${stderr}`);
    assert.equal(stdout, expected);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
