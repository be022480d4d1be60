/**
 * Argument parsing for the CLI: node:util parseArgs in strict mode, one
 * spec per command, and typed accessors that turn bad values into usage
 * errors (exit status 2, code INVALID_ARGUMENT).
 */
import { parseArgs } from 'node:util';
import type { Access } from '../endpoint/bind.js';
import type { AuthOptions } from '../auth/options.js';
import { closestName } from '../closest-name.js';
import type { NameOptions } from '../endpoint/names.js';

/** A mistake in how the command was called. Printed as `INVALID_ARGUMENT`, exit status 2. */
export class UsageError extends Error {
  readonly code = 'INVALID_ARGUMENT';

  override get name(): string {
    return 'UsageError';
  }
}

/**
 * One option of a command: how it parses (`type`, `short`) and how its help
 * describes it. Each option is described here once; a command's help lists
 * its options from its table (optionsHelp).
 */
export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
  /** The value's name in the help, for string options: `--timeout MS`. */
  value?: string;
  /** What it does, as the help says it: wrapped to 80 columns; a `\n` starts a new line. */
  description: string;
  /** The default as the help shows it, `(default: ...)` after the description; none: no default shown. */
  defaultText?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;
export type Values = Record<string, string | boolean | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
}

/** Options every command takes. */
const HELP: OptionSpecs = { help: { type: 'boolean', short: 'h', description: 'show this help' } };

/** How a name is resolved: shared by listen, connect, call, notify, check and path. */
export const NAME_OPTIONS: OptionSpecs = {
  qt: { type: 'boolean', description: "resolve NAME as Qt's QLocalServer/QLocalSocket do" },
  abstract: { type: 'boolean', description: 'Linux abstract namespace (no socket file)' },
};

/** `--key-file`: which key proves who we are (check and ls say what it verifies instead). */
export const KEY_FILE_OPTION: OptionSpec = {
  type: 'string',
  value: 'FILE',
  description: 'authenticate with this key file instead of ~/.config/localsocket/key (%LOCALAPPDATA%\\localsocket\\key on Windows)',
};

/** How the peer is authenticated: shared by listen, connect, call and notify. */
export const AUTH_OPTIONS: OptionSpecs = {
  raw: { type: 'boolean', description: 'no authentication handshake (plain Qt, Python, nc peers)' },
  'key-file': KEY_FILE_OPTION,
};

/** The help's layout: option labels in a column this wide (after 2 spaces), then the description, to 80 columns. */
const LABEL_WIDTH = 23;
const DESCRIPTION_COLUMN = 2 + LABEL_WIDTH;
const HELP_WIDTH = 80;

/** Words of `text` in lines of at most `width` (a longer word gets a line of its own); `\n` forces a break. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line !== '' && line.length + 1 + word.length > width) {
        lines.push(line);
        line = word;
      } else {
        line = line === '' ? word : `${line} ${word}`;
      }
    }
    lines.push(line);
  }
  return lines;
}

function optionHelp(name: string, spec: OptionSpec): string {
  const label = `${spec.short === undefined ? '' : `-${spec.short}, `}--${name}${spec.value === undefined ? '' : ` ${spec.value}`}`;
  const text = spec.defaultText === undefined ? spec.description : `${spec.description} (default: ${spec.defaultText})`;
  const indent = ' '.repeat(DESCRIPTION_COLUMN);
  const lines = wrap(text, HELP_WIDTH - DESCRIPTION_COLUMN);
  // A label too wide for its column gets a line of its own.
  const first = label.length < LABEL_WIDTH ? [`  ${label.padEnd(LABEL_WIDTH)}${lines.shift()!}`] : [`  ${label}`];
  return [...first, ...lines.map((line) => indent + line)].join('\n');
}

/** The help lines of `options`, in their order (without `--help`). */
export function optionLines(options: OptionSpecs): string {
  return Object.entries(options)
    .map(([name, spec]) => optionHelp(name, spec))
    .join('\n');
}

/** A command's "Options:" section: its options, then `-h, --help`. */
export function optionsHelp(options: OptionSpecs): string {
  return optionLines({ ...options, ...HELP });
}

/** What parseArgs needs of the specs (it takes nothing else, and a `default` there would set values). */
function parseSpecs(options: OptionSpecs): Record<string, { type: 'boolean' | 'string'; short?: string }> {
  const out: Record<string, { type: 'boolean' | 'string'; short?: string }> = {};
  for (const [name, spec] of Object.entries(options)) out[name] = spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short };
  return out;
}

/** parseArgs phrases its errors for programmers; keep the first sentence, without quotes noise. */
function shortParseError(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const first = message.split(/\.\s|\n/)[0] ?? message;
  return first.replace(/\.$/, '').replace(/^[A-Z]/, (c) => c.toLowerCase());
}

/**
 * parseArgs takes `--timeout -5` for two options and calls it ambiguous: a
 * value that looks like a negative number is joined to its option
 * (`--timeout=-5`), so the option's own check explains what is allowed.
 */
function joinNegativeValues(args: string[], options: OptionSpecs): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    const spec = arg.startsWith('--') ? options[arg.slice(2)] : undefined;
    if (spec?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * The first `--name` in `args` that `options` does not have, with the closest
 * option it does have: a typo is reported as the option the user meant.
 * Values of string options and everything after `--` are not options.
 */
function unknownLongOption(command: string, args: string[], options: OptionSpecs): UsageError | null {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return null;
    if (!arg.startsWith('--')) continue;
    const name = arg.slice(2).split('=', 1)[0]!;
    const spec = options[name];
    if (spec === undefined) {
      const closest = closestName(name, Object.keys(options));
      const quoted = JSON.stringify(`--${name.slice(0, 64)}`);
      return new UsageError(`${command}: unknown option ${quoted}${closest === undefined ? '' : ` (did you mean "--${closest}"?)`}`);
    }
    if (spec.type === 'string' && !arg.includes('=')) i++;
  }
  return null;
}

/**
 * Parses `args` for `command`. `--help` short-circuits every other check, so
 * `localsocket listen --help` works without a NAME.
 */
export function parseCommand(command: string, args: string[], options: OptionSpecs, positionalNames: readonly string[]): Parsed & { help: boolean } {
  let result: { values: Values; positionals: string[] };
  const unknown = unknownLongOption(command, args, { ...options, ...HELP });
  if (unknown) throw unknown;
  try {
    result = parseArgs({ args: joinNegativeValues(args, options), options: parseSpecs({ ...options, ...HELP }), allowPositionals: true, strict: true }) as {
      values: Values;
      positionals: string[];
    };
  } catch (err) {
    throw new UsageError(`${command}: ${shortParseError(err)}`);
  }
  if (result.values.help === true) return { ...result, help: true };
  const { positionals } = result;
  // Names in brackets ("[PARAMS_JSON]") are optional and come last.
  const required = positionalNames.filter((n) => !n.startsWith('['));
  if (positionals.length < required.length) {
    throw new UsageError(`${command}: missing ${required.slice(positionals.length).join(' ')}`);
  }
  if (positionals.length > positionalNames.length) {
    throw new UsageError(`${command}: unexpected argument "${positionals[positionalNames.length]}"`);
  }
  return { ...result, help: false };
}

export function flag(values: Values, name: string): boolean {
  return values[name] === true;
}

export function stringOption(values: Values, name: string): string | undefined {
  const value = values[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0) throw new UsageError(`--${name} needs a value`);
  return value;
}

/** A whole decimal number within [min, max]; anything else is a usage error. */
export function integerOption(values: Values, name: string, min: number, max: number): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max} (got "${text}")`);
  }
  return value;
}

export function oneOf<T extends string>(values: Values, name: string, allowed: readonly T[]): T | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(text)) throw new UsageError(`--${name} must be one of ${allowed.join(', ')}`);
  return text as T;
}

export function nameOptions(values: Values): NameOptions {
  const qt = flag(values, 'qt');
  const abstract = flag(values, 'abstract');
  if (qt && abstract) throw new UsageError('--qt and --abstract cannot be combined');
  return { qtCompatible: qt, abstract };
}

export function authOptions(values: Values): AuthOptions {
  const keyFile = stringOption(values, 'key-file');
  if (flag(values, 'raw')) {
    if (keyFile !== undefined) throw new UsageError('--raw and --key-file cannot be combined (raw mode uses no key)');
    return { auth: false };
  }
  return keyFile === undefined ? {} : { keyFile };
}

export function accessOption(values: Values): Access | undefined {
  return oneOf(values, 'access', ['user', 'group', 'world'] as const);
}
