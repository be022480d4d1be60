/**
 * The README's broadcast / reconnect / single-instance tour runs as written:
 * its code block is run as an ES module (with `localsocket` pointing at this
 * build) in a private home (key, runtime dir), and its stdout must be the
 * README's output block, line for line.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { distDir, tempDir } from './helpers.js';

const README = path.resolve(distDir, '..', 'README.md');

/** The fenced block right after `<!-- marker -->`. */
function block(text: string, marker: string): string {
  const at = text.indexOf(`<!-- ${marker} -->`);
  assert.notEqual(at, -1, `README has no ${marker} marker`);
  const match = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at));
  assert.ok(match, `no code block after ${marker}`);
  return match[1]!;
}

test('the broadcast, reconnect and single-instance tour in the README runs and prints what the README says', async () => {
  const text = fs.readFileSync(README, 'utf8');
  const code = block(text, 'tour:broadcast');
  const expected = block(text, 'tour:broadcast:output');
  const home = tempDir('lstour-');
  try {
    const runtime = path.join(home, 'run');
    fs.mkdirSync(runtime, { mode: 0o700 });
    fs.chmodSync(runtime, 0o700);
    const index = pathToFileURL(path.join(distDir, 'src', 'index.js')).href;
    const script = path.join(home, 'tour.mjs');
    assert.match(code, /from 'localsocket';/);
    fs.writeFileSync(script, code.replaceAll("from 'localsocket';", `from '${index}';`));
    const child = spawn(process.execPath, [script], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Never the user's own key or runtime directory.
      env: { PATH: process.env.PATH, HOME: home, XDG_RUNTIME_DIR: runtime, XDG_CONFIG_HOME: path.join(home, 'config'), LOCALAPPDATA: path.join(home, 'config'), SYSTEMROOT: process.env.SYSTEMROOT, WINELOADER: process.env.WINELOADER, TMPDIR: home },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    const [code_] = (await new Promise((resolve) => child.once("close", (...args) => resolve(args)))) as unknown as [number | null];
    clearTimeout(timer);
    assert.equal(code_, 0, `the tour failed: ${stderr}`);
    assert.equal(stdout, expected);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});
