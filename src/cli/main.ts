#!/usr/bin/env node
/**
 * The `localsocket` command: picks the command, parses its arguments, runs
 * it, and turns every failure into one line on stderr and an exit status
 * (0 success, 1 failure, 2 usage error, 130 interrupted).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { closestName } from '../closest-name.js';
import { NAME_OPTIONS, optionLines, parseCommand, UsageError, type OptionSpecs, type Values } from './args.js';
import { CALL_HELP, CALL_OPTIONS, runCall } from './call.js';
import { CHECK_HELP, CHECK_OPTIONS, runCheck } from './check.js';
import { CONNECT_HELP, CONNECT_OPTIONS, runConnect } from './connect.js';
import { DEMO_HELP, DEMO_OPTIONS, runDemo } from './demo.js';
import { LISTEN_HELP, LISTEN_OPTIONS, runListen } from './listen.js';
import { LS_HELP, LS_OPTIONS, runLs } from './ls.js';
import { NOTIFY_HELP, NOTIFY_OPTIONS, runNotify } from './notify.js';
import { EXIT, reportError } from './output.js';
import { PATH_HELP, PATH_OPTIONS, runPath } from './path.js';

interface Command {
  summary: string;
  help: string;
  options: OptionSpecs;
  positionals: readonly string[];
  run(values: Values, positionals: string[]): Promise<number> | number;
}

const COMMANDS: Record<string, Command> = {
  demo: { summary: 'see it work: server, client, stale socket, impostor, 64 MiB', help: DEMO_HELP, options: DEMO_OPTIONS, positionals: [], run: (v) => runDemo(v) },
  listen: { summary: 'serve NAME: echo, or copy what clients send to stdout', help: LISTEN_HELP, options: LISTEN_OPTIONS, positionals: ['NAME'], run: (v, [name]) => runListen(v, name!) },
  connect: { summary: 'connect to NAME: stdin to the server, the server to stdout', help: CONNECT_HELP, options: CONNECT_OPTIONS, positionals: ['NAME'], run: (v, [name]) => runConnect(v, name!) },
  call: { summary: 'send a request to the message server NAME, print the result', help: CALL_HELP, options: CALL_OPTIONS, positionals: ['NAME', 'METHOD', '[PARAMS_JSON]'], run: (v, [name, method, params]) => runCall(v, name!, method!, params) },
  notify: { summary: 'send a notification to the message server NAME', help: NOTIFY_HELP, options: NOTIFY_OPTIONS, positionals: ['NAME', 'METHOD', '[PARAMS_JSON]'], run: (v, [name, method, params]) => runNotify(v, name!, method!, params) },
  check: { summary: 'what is at NAME: endpoint, live or stale, owner and mode', help: CHECK_HELP, options: CHECK_OPTIONS, positionals: ['NAME'], run: (v, [name]) => runCheck(v, name!) },
  ls: { summary: 'the names in your private directory: live, stale, which pid', help: LS_HELP, options: LS_OPTIONS, positionals: [], run: (v) => runLs(v) },
  path: { summary: 'print the endpoint NAME resolves to', help: PATH_HELP, options: PATH_OPTIONS, positionals: ['NAME'], run: (v, [name]) => runPath(v, name!) },
};

const TOP_HELP = `Usage: localsocket COMMAND [options]

Local IPC over Unix domain sockets and Windows named pipes, secure by default:
same-user permissions plus a mutual HMAC-SHA256 handshake with the per-user
key ~/.config/localsocket/key (%LOCALAPPDATA%\\localsocket\\key on Windows),
created on first use.

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(9)}${c.summary}`)
  .join('\n')}

Name options (listen, connect, call, notify, check, path; before or after the command):
${optionLines(NAME_OPTIONS)}

Run "localsocket help COMMAND" (or "localsocket COMMAND --help") for a command's options.
Errors: one line on stderr, "localsocket: CODE: message".
Exit status: 0 success, 1 failure, 2 usage error, 130 interrupted.`;

/** Options allowed before the command name. */
const LEADING = new Set(['--qt', '--abstract', '--help', '-h', '--version']);

function version(): string {
  try {
    // The command runs from the package's CommonJS build, dist/cjs/cli/: package.json is three levels up.
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** `localsocket help [COMMAND]`: the same text as `--help`. */
function help(args: string[]): number {
  if (args.length > 1) throw new UsageError('help takes at most one COMMAND');
  const [topic] = args;
  if (topic === undefined) process.stdout.write(`${TOP_HELP}\n`);
  else if (Object.hasOwn(COMMANDS, topic)) process.stdout.write(`${COMMANDS[topic]!.help}\n`);
  else throw new UsageError(`help: unknown command "${topic}"`);
  return EXIT.ok;
}

export async function main(argv: string[]): Promise<number> {
  const at = argv.findIndex((arg) => !arg.startsWith('-'));
  const leading = at === -1 ? argv : argv.slice(0, at);
  const unknown = leading.find((arg) => !LEADING.has(arg));
  if (unknown !== undefined) {
    const closest = closestName(unknown, LEADING);
    throw new UsageError(`unknown option ${JSON.stringify(unknown.slice(0, 64))} before the command${closest === undefined ? '' : ` (did you mean "${closest}"?)`}`);
  }
  if (at === -1) {
    if (leading.includes('--version')) {
      process.stdout.write(`${version()}\n`);
      return EXIT.ok;
    }
    if (leading.includes('--help') || leading.includes('-h')) {
      process.stdout.write(`${TOP_HELP}\n`);
      return EXIT.ok;
    }
    throw new UsageError('no command given; commands: ' + Object.keys(COMMANDS).join(', '));
  }
  const name = argv[at]!;
  if (name === 'help') return help(argv.slice(at + 1));
  if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command "${name}"`);
  const command = COMMANDS[name]!;
  if (leading.includes('--version')) throw new UsageError('--version takes no command');
  const parsed = parseCommand(name, [...leading, ...argv.slice(at + 1)], command.options, command.positionals);
  if (parsed.help) {
    process.stdout.write(`${command.help}\n`);
    return EXIT.ok;
  }
  return command.run(parsed.values, parsed.positionals);
}

/** If something still holds the event loop after the command is done, do not hang: exit anyway. */
const EXIT_GRACE_MS = 3000;

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  },
  (err: unknown) => {
    const code = reportError(err);
    process.exitCode = code;
    setTimeout(() => process.exit(code), EXIT_GRACE_MS).unref();
  },
);
