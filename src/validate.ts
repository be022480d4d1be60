/** Argument checks shared by every public entry point: nothing from a caller is trusted. */
import { LocalSocketError } from './errors.js';

/** setTimeout's own ceiling; a longer timer would fire at once. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * @param what - which argument, and what it must be.
 * @returns an `INVALID_ARGUMENT` error.
 */
export function invalidArgument(what: string): LocalSocketError {
  return new LocalSocketError('INVALID_ARGUMENT', `invalid argument: ${what}`);
}

/**
 * An integer within [min, max].
 *
 * @param value - from the caller.
 * @param what - the argument's name, for the message.
 * @param min - smallest allowed.
 * @param max - largest allowed.
 * @returns `value`.
 * @throws {@link LocalSocketError} `INVALID_ARGUMENT` for anything else.
 */
export function checkInteger(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

/**
 * An optional positive integer option, or its default. `Infinity` is allowed where a limit may be off.
 *
 * @param value - from the caller; undefined means the default.
 * @param what - the option's name, for the message.
 * @param fallback - the default.
 * @param allowInfinity - whether `Infinity` (no limit) is accepted.
 * @returns the limit.
 * @throws {@link LocalSocketError} `INVALID_ARGUMENT` for anything but a positive safe integer (or Infinity if allowed).
 */
export function optionalLimit(value: unknown, what: string, fallback: number, allowInfinity = false): number {
  if (value === undefined) return fallback;
  if (allowInfinity && value === Infinity) return Infinity;
  return checkInteger(value, what, 1, Number.MAX_SAFE_INTEGER);
}

/**
 * A timeout in milliseconds. A deadline already in the past (0 or negative)
 * means "check once, do not wait"; NaN and Infinity are refused because
 * nothing in this library may wait forever.
 *
 * @param value - from the caller; undefined means the default.
 * @param fallback - the default.
 * @param what - the option's name, for the message.
 * @returns whole milliseconds, 0 for a deadline already passed.
 * @throws {@link LocalSocketError} `INVALID_ARGUMENT` for a non-number, NaN, Infinity, or more than 2^31-1 ms.
 */
export function checkTimeout(value: unknown, fallback: number, what = 'timeout'): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || !Number.isFinite(value)) {
    throw invalidArgument(`${what} must be a finite number of milliseconds`);
  }
  if (value > MAX_TIMEOUT_MS) throw invalidArgument(`${what} must be at most ${MAX_TIMEOUT_MS} ms`);
  return value <= 0 ? 0 : Math.ceil(value);
}

/**
 * @param value - from the caller.
 * @returns the signal, or undefined.
 * @throws {@link LocalSocketError} `INVALID_ARGUMENT` if it is not an AbortSignal.
 */
export function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidArgument('signal must be an AbortSignal');
  return value;
}

/**
 * @param value - from the caller; undefined means the default.
 * @param what - the option's name, for the message.
 * @param allowed - the accepted strings.
 * @param fallback - the default.
 * @returns one of `allowed`.
 * @throws {@link LocalSocketError} `INVALID_ARGUMENT` for any other value.
 */
export function checkOneOf<T extends string>(value: unknown, what: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalidArgument(`${what} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/**
 * @param value - from the caller; undefined means the default.
 * @param what - the option's name, for the message.
 * @param fallback - the default.
 * @returns the boolean.
 * @throws {@link LocalSocketError} `INVALID_ARGUMENT` for a non-boolean.
 */
export function checkBoolean(value: unknown, what: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgument(`${what} must be a boolean`);
  return value;
}

/**
 * @param value - an options argument; undefined means no options.
 * @param what - the argument's name, for the message.
 * @returns the object, or `{}`.
 * @throws {@link LocalSocketError} `INVALID_ARGUMENT` for null or a non-object.
 */
export function checkObject(value: unknown, what: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null) throw invalidArgument(`${what} must be an object`);
  return value as Record<string, unknown>;
}

/**
 * Checks write input and returns a view on exactly the bytes asked for.
 * Strings are encoded as UTF-8; offset and length count bytes of the encoded form.
 *
 * @param data - a Uint8Array (Buffer) or string.
 * @param offset - first byte; default 0.
 * @param length - number of bytes; default the rest.
 * @returns a view (no copy for a Uint8Array).
 * @throws {@link LocalSocketError} `INVALID_ARGUMENT` for other data types or an offset/length outside the data.
 */
export function toByteView(data: unknown, offset: unknown, length: unknown): Uint8Array {
  let bytes: Uint8Array;
  if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
  else if (data instanceof Uint8Array) bytes = data;
  else throw invalidArgument('data must be a Uint8Array, Buffer or string');
  // `length`, not `byteLength`: equal for a Uint8Array, and much cheaper on the write path in V8.
  const total = bytes.length;
  const start = offset === undefined ? 0 : checkInteger(offset, 'offset', 0, total);
  const count = length === undefined ? total - start : checkInteger(length, 'length', 0, total - start);
  return start === 0 && count === total ? bytes : bytes.subarray(start, start + count);
}
