/**
 * The readLine rule, apart from the socket so that it is tested byte by byte.
 *
 * A line is the bytes up to and including the first '\n', but never more than
 * `maxLength` bytes: a longer line is handed out in pieces of `maxLength`
 * (as Qt's `readLine(maxSize)` does), so one long line can neither fail a
 * reader nor hold the buffer until it fills. Once the stream has ended, the
 * bytes left after the last '\n' are a line too.
 */
import type { ReadBuffer } from './read-buffer.js';

const NEWLINE = 0x0a;

/**
 * How many bytes the next readLine takes from `buffer`; 0 while no line is
 * complete yet (more bytes may still come).
 * @param buffer the received bytes not yet read
 * @param maxLength the most bytes one line may take (an integer >= 1)
 * @param ended true once nothing more can arrive (end-of-stream or closed)
 * @returns the length of the next line, or 0
 */
export function nextLineLength(buffer: ReadBuffer, maxLength: number, ended: boolean): number {
  const at = buffer.indexOf(NEWLINE, maxLength);
  if (at !== -1) return at + 1;
  if (buffer.length >= maxLength) return maxLength;
  return ended ? buffer.length : 0;
}
