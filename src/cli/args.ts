/**
 * Argument parsing for the CLI: node:util parseArgs in strict mode, one
 * spec per command, and typed accessors that turn bad values into usage
 * errors (exit status 2, code INVALID_ARGUMENT).
 */
import { parseArgs } from 'node:util';
import type { Access } from '../bind.js';
import type { AuthOptions } from '../auth/options.js';
import { closestName } from '../closest-name.js';
import type { NameOptions } from '../names.js';

/** A mistake in how the command was called. Printed as `INVALID_ARGUMENT`, exit status 2. */
export class UsageError extends Error {
  readonly code = 'INVALID_ARGUMENT';

  override get name(): string {
    return 'UsageError';
  }
}

export interface OptionSpec {
  type: 'boolean' | 'string';
  short?: string;
}

export type OptionSpecs = Record<string, OptionSpec>;
export type Values = Record<string, string | boolean | undefined>;

export interface Parsed {
  values: Values;
  positionals: string[];
}

/** Options every command takes. */
const HELP: OptionSpecs = { help: { type: 'boolean', short: 'h' } };

/** How a name is resolved: shared by listen, connect, check and path. */
export const NAME_OPTIONS: OptionSpecs = {
  qt: { type: 'boolean' },
  abstract: { type: 'boolean' },
};

/** How the peer is authenticated: shared by listen and connect. */
export const AUTH_OPTIONS: OptionSpecs = {
  raw: { type: 'boolean' },
  'key-file': { type: 'string' },
};

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
    result = parseArgs({ args: joinNegativeValues(args, options), options: { ...options, ...HELP }, allowPositionals: true, strict: true }) as {
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
