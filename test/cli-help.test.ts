/**
 * Each command's help is made from its option table: every option it parses
 * is described in its help, once, and nothing else is; the layout (a label
 * column, descriptions wrapped to 80 columns, a long label on its own line)
 * is the renderer's.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { optionsHelp, type OptionSpecs } from '../src/cli/args.js';
import { CALL_HELP, CALL_OPTIONS } from '../src/cli/call.js';
import { CHECK_HELP, CHECK_OPTIONS } from '../src/cli/check.js';
import { CONNECT_HELP, CONNECT_OPTIONS } from '../src/cli/connect.js';
import { DEMO_HELP, DEMO_OPTIONS } from '../src/cli/demo.js';
import { LISTEN_HELP, LISTEN_OPTIONS } from '../src/cli/listen.js';
import { LS_HELP, LS_OPTIONS } from '../src/cli/ls.js';
import { NOTIFY_HELP, NOTIFY_OPTIONS } from '../src/cli/notify.js';
import { PATH_HELP, PATH_OPTIONS } from '../src/cli/path.js';

const COMMANDS: Record<string, [help: string, options: OptionSpecs]> = {
  call: [CALL_HELP, CALL_OPTIONS],
  check: [CHECK_HELP, CHECK_OPTIONS],
  connect: [CONNECT_HELP, CONNECT_OPTIONS],
  demo: [DEMO_HELP, DEMO_OPTIONS],
  listen: [LISTEN_HELP, LISTEN_OPTIONS],
  ls: [LS_HELP, LS_OPTIONS],
  notify: [NOTIFY_HELP, NOTIFY_OPTIONS],
  path: [PATH_HELP, PATH_OPTIONS],
};

/** The long options the "Options:" section of `help` lists, in order. */
function listed(help: string): string[] {
  const section = help.split('\nOptions:\n')[1]!.split('\n\n')[0]!;
  return [...section.matchAll(/^ {2}(?:-\w, )?--([\w-]+)/gm)].map((m) => m[1]!);
}

describe('CLI help from the option tables', () => {
  for (const [command, [help, options]] of Object.entries(COMMANDS)) {
    test(`${command}: its help lists exactly the options it parses, each with its description and default`, () => {
      assert.deepEqual(listed(help), [...Object.keys(options), 'help']);
      const flat = help.replace(/\n {25}/g, ' ');
      for (const [name, spec] of Object.entries(options)) {
        const label = `--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`;
        assert.ok(flat.includes(label), `${command}: ${label}`);
        for (const part of spec.description.split('\n')) assert.ok(flat.includes(part), `${command} --${name}: ${part}`);
        if (spec.defaultText !== undefined) assert.ok(flat.includes(`(default: ${spec.defaultText})`), `${command} --${name} default`);
      }
      for (const line of help.split('\n')) if (line.startsWith('  -')) assert.ok(line.length <= 80, `${command}: ${line}`);
    });
  }

  test('the layout: a label column of 25, wrapped descriptions, a label too wide on its own line', () => {
    const text = optionsHelp({
      short: { type: 'boolean', description: 'one line' },
      'a-very-long-option': { type: 'string', value: 'ALPHA|BETA', description: 'below its label', defaultText: 'ALPHA' },
      wrapped: { type: 'boolean', description: `${'word '.repeat(12)}end` },
    });
    assert.equal(text, [
      '  --short                one line',
      '  --a-very-long-option ALPHA|BETA',
      '                         below its label (default: ALPHA)',
      '  --wrapped              word word word word word word word word word word word',
      '                         word end',
      '  -h, --help             show this help',
    ].join('\n'));
  });
});
