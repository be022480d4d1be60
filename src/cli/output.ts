/** How the CLI talks to people: error lines, endpoint display, numbers. */
import { LocalSocketError } from '../errors.js';
import type { Endpoint } from '../endpoint/names.js';
import { UsageError } from './args.js';

/** Exit statuses: 0 success, 1 any failure, 2 a usage error, 130 interrupted (SIGINT). */
export const EXIT = { ok: 0, failure: 1, usage: 2, interrupted: 130 } as const;

/** One line, no control characters: a message is never allowed to break the one-line error format. */
function oneLine(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
}

/** `localsocket: CODE: message` */
export function errorLine(code: string, message: string): string {
  return `localsocket: ${code}: ${oneLine(message)}`;
}

export function printError(code: string, message: string): void {
  process.stderr.write(`${errorLine(code, message)}\n`);
}

/**
 * Reports any thrown value as one line on stderr and returns the exit status.
 * Unexpected errors are not printed in detail (no stack traces, no OS strings)
 * unless LOCALSOCKET_DEBUG is set.
 */
export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    printError(err.code, `${err.message} (see --help)`);
    return EXIT.usage;
  }
  if (err instanceof LocalSocketError) {
    printError(err.code, err.message);
    // Every option reaches the library from the command line: a bad one is a usage error.
    if (err.code === 'INVALID_ARGUMENT') return EXIT.usage;
  } else {
    printError('UNKNOWN', 'unexpected error');
  }
  if (process.env.LOCALSOCKET_DEBUG) console.error(err);
  return EXIT.failure;
}

/** The endpoint as a person reads it: abstract names as `@name` (ss, systemd), since they start with a NUL byte. */
export function displayAddress(endpoint: Pick<Endpoint, 'kind' | 'address'>): string {
  return endpoint.kind === 'abstract' ? `@${endpoint.address.slice(1)}` : endpoint.address;
}

export function formatAddress(address: string): string {
  return address.startsWith('\0') ? `@${address.slice(1)}` : address;
}

const MIB = 1024 * 1024;

export function formatBytes(bytes: number): string {
  if (bytes >= MIB) return `${(bytes / MIB).toFixed(bytes % MIB === 0 ? 0 : 1)} MiB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} B`;
}

export function formatMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${ms.toFixed(0)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function formatRate(bytes: number, ms: number): string {
  return `${(bytes / MIB / Math.max(ms / 1000, 1e-6)).toFixed(1)} MiB/s`;
}

/** `0600`-style octal permission bits (`1777` for a sticky directory such as /tmp). */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
