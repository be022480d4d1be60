/**
 * The CLI's usage errors and help, from outside: every INVALID_ARGUMENT exits
 * 2 with a message in command-line terms; `help COMMAND`; and `listen`
 * without --echo copying one client at a time to stdout.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { connect } from '../src/index.js';
import { distDir, finished, isLinux, uniqueName } from './helpers.js';

const MAIN = path.join(distDir, 'cjs', 'cli', 'main.js');

/** Polls `read()` until it matches (output may already have arrived before we look). */
async function until(read: () => string, pattern: RegExp, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pattern.test(read())) {
    if (Date.now() > deadline) throw new Error(`no match for ${pattern} within ${timeoutMs} ms; got: ${read().slice(-200)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return finished(spawn(process.execPath, [MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }), 15_000);
}

describe('CLI usage errors exit 2 with messages in CLI terms', () => {
  it('a key file that does not exist', async () => {
    const result = await run(['connect', uniqueName(), '--key-file', '/nonexistent/key', '--timeout', '1000']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^localsocket: INVALID_ARGUMENT: key file not found/);
  });

  it('listen --raw --abstract without --access world names the CLI option', { skip: !isLinux && 'abstract names are Linux-only' }, async () => {
    const result = await run(['listen', uniqueName(), '--raw', '--abstract']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^localsocket: INVALID_ARGUMENT: .*add --access world/);
    assert.doesNotMatch(result.stderr, /access: 'world'/);
  });

  it('a negative --timeout says what values are allowed', async () => {
    const result = await run(['connect', uniqueName(), '--timeout', '-5']);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^localsocket: INVALID_ARGUMENT: --timeout must be a whole number from \d+ to \d+ \(got "-5"\)/);
    assert.doesNotMatch(result.stderr, /ambiguous/);
  });

  it('help COMMAND prints that command\'s help; help alone the overview; an unknown topic is a usage error', async () => {
    const viaHelp = await run(['help', 'connect']);
    const viaFlag = await run(['connect', '--help']);
    assert.equal(viaHelp.code, 0);
    assert.match(viaHelp.stdout, /^Usage: localsocket connect NAME/);
    assert.equal(viaHelp.stdout, viaFlag.stdout);
    const overview = await run(['help']);
    assert.equal(overview.code, 0);
    assert.match(overview.stdout, /^Usage: localsocket COMMAND/);
    const unknown = await run(['help', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^localsocket: INVALID_ARGUMENT: help: unknown command "nope"/);
  });
});

describe('listen without --echo', () => {
  it('copies one client at a time to stdout: a second client waits until the first has ended', async () => {
    const name = uniqueName('cli-turns');
    const cli = spawn(process.execPath, [MAIN, 'listen', name, '--raw'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    cli.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    try {
      const ready = new Promise<void>((resolve, reject) => {
        let err = '';
        cli.stderr!.on('data', (c: Buffer) => {
          err += c.toString();
          if (/^listening on /m.test(err)) resolve();
        });
        cli.once('exit', () => reject(new Error(`listen exited: ${err}`)));
      });
      await ready;
      const first = await connect(name, { auth: false, timeout: 5000 });
      await first.write('first-1\n');
      await until(() => stdout, /^first-1$/m);
      const second = await connect(name, { auth: false, timeout: 5000 });
      await second.write('second-1\n');
      await second.end();
      // Give the second client's bytes time to reach the server (only matters if they were not held back).
      await new Promise((r) => setTimeout(r, 300));
      await first.write('first-2\n');
      await first.end();
      await until(() => stdout, /^second-1$/m);
      assert.equal(stdout, 'first-1\nfirst-2\nsecond-1\n');
    } finally {
      cli.kill('SIGTERM');
      await finished(cli).catch(() => {});
    }
  });
});
