/**
 * `listen --messages --broadcast-stdin`: each line of stdin goes to every
 * connected peer as the notification `line` with params `{ "text": LINE }`.
 * Lines are split on bytes (so a UTF-8 character is never cut between two
 * reads) and bounded: a line longer than the message limit is reported on
 * stderr and skipped, never buffered whole.
 */
import type { Readable } from 'node:stream';
import { LocalSocketError } from '../errors.js';
import type { MessageServer } from '../messages/message-server.js';

/** The notification each stdin line becomes. */
export const LINE_METHOD = 'line';

/**
 * Reads `input` to its end, broadcasting each line (without its `\n` or `\r\n`).
 * @param server - the message server whose peers get the lines
 * @param input - the stream to read (stdin)
 * @param maxLine - longest line kept, in bytes; longer ones are skipped with a note on `log`
 * @param log - where notes go (stderr)
 * @returns resolves when `input` ends
 */
export async function broadcastLines(server: MessageServer, input: Readable, maxLine: number, log: (text: string) => void): Promise<void> {
  let parts: Buffer[] = [];
  let held = 0;
  let skipping = false;
  const emit = (line: Buffer): void => {
    let text = line.toString('utf8');
    if (text.endsWith('\r')) text = text.slice(0, -1);
    try {
      server.broadcast(LINE_METHOD, { text });
    } catch (err) {
      if (!(err instanceof LocalSocketError)) throw err;
      log(`line not sent: ${err.code}: ${err.message}\n`);
    }
  };
  for await (const chunk of input as AsyncIterable<Buffer>) {
    let start = 0;
    for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, at);
      start = at + 1;
      if (skipping || held + piece.length > maxLine) {
        if (!skipping) log(`line not sent: MESSAGE_TOO_LARGE: longer than ${maxLine} bytes\n`);
        skipping = false;
        parts = [];
        held = 0;
        continue;
      }
      emit(held === 0 ? piece : Buffer.concat([...parts, piece]));
      parts = [];
      held = 0;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0 || skipping) continue;
    if (held + rest.length > maxLine) {
      // Past the limit without a line end: drop what is held and the rest of this line.
      log(`line not sent: MESSAGE_TOO_LARGE: longer than ${maxLine} bytes\n`);
      skipping = true;
      parts = [];
      held = 0;
      continue;
    }
    parts.push(Buffer.from(rest));
    held += rest.length;
  }
  if (held > 0 && !skipping) emit(Buffer.concat(parts));
}
