/**
 * The README's message tour runs as written: the block after the
 * "messages-tour" marker is run as a script (importing this build instead of
 * the published package), with its key and socket directory in a temp dir.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'node:test';
import { distDir, finished, isWindows, tempDir } from './helpers.js';

const readme = path.resolve(distDir, '..', 'README.md');

/** The first ```js block after `marker`. */
function block(text: string, marker: string): string {
  const at = text.indexOf(marker);
  assert.notEqual(at, -1, `README has no ${marker} marker`);
  const match = /```js\n([\s\S]*?)\n```/.exec(text.slice(at));
  assert.ok(match, `no js block after ${marker}`);
  return match[1]!;
}

test('the README message tour runs and prints what its comments say', async () => {
  const code = block(fs.readFileSync(readme, 'utf8'), '<!-- messages-tour');
  const index = pathToFileURL(path.join(distDir, 'src', 'index.js')).href;
  assert.match(code, /from 'localsocket'/);
  const dir = tempDir('lsreadme-');
  try {
    const script = path.join(dir, 'tour.mjs');
    fs.writeFileSync(script, code.replaceAll("from 'localsocket'", `from '${index}'`));
    const runtime = path.join(dir, 'run');
    fs.mkdirSync(runtime, { mode: 0o700 });
    // Never the user's key or directories: all of them under the temp dir.
    const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'config'), XDG_RUNTIME_DIR: runtime, TMPDIR: dir, LOCALAPPDATA: path.join(dir, 'local') };
    const child = spawn(process.execPath, [script], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const { code: exit, stdout, stderr } = await finished(child, 30_000);
    assert.equal(exit, 0, `exit ${exit}; stderr: ${stderr}`);
    assert.equal(stderr, '');
    assert.deepEqual(stdout.trim().split('\n'), [
      '1 + 2 = 3',
      'REMOTE_ERROR -32602 division by zero',
      'TIMEOUT',
      "news: { topic: 'weather', text: 'sunny' }",
    ]);
    if (!isWindows) assert.ok(fs.existsSync(path.join(dir, 'config', 'localsocket', 'key')), 'the key was made in the temp dir');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
