/**
 * Frames written outside the encoder's slab (a broadcast, a close frame, the
 * end of the stream) go after the frames built for the same socket in this
 * tick: writeWholeFrame, writeWholeFrameWithin and endAfterFrames hand the
 * socket's open region over first, so no caller has to.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { LocalSocket } from '../src/index.js';
import { endAfterFrames, flushFrames, queueJsonFrame, writeWholeFrame, writeWholeFrameWithin } from '../src/messages/encode.js';
import { FrameDecoder } from '../src/messages/frame.js';
import { QUEUED_BYTES } from '../src/writer.js';

/** A stand-in socket that records its writes and its end, and reports `queued` bytes waiting. */
function sink(queued = 0): { socket: LocalSocket; log: string[] } {
  const log: string[] = [];
  const decode = (bytes: Uint8Array): string => {
    const texts: string[] = [];
    new FrameDecoder(2 ** 32 - 1).push(Buffer.from(bytes), (_type, payload) => texts.push(payload.toString()));
    return texts.join('+');
  };
  const socket = {
    [QUEUED_BYTES]: queued,
    write: (b: Uint8Array) => (log.push(decode(b)), Promise.resolve()),
    end: () => (log.push('end'), Promise.resolve()),
  } as unknown as LocalSocket;
  return { socket, log };
}

/** A whole frame as the encoder would build it, from a second (empty) sink. */
function wholeFrame(text: string): Buffer {
  const chunks: Buffer[] = [];
  const other = { [QUEUED_BYTES]: 0, write: (b: Uint8Array) => (chunks.push(Buffer.from(b)), Promise.resolve()) } as unknown as LocalSocket;
  queueJsonFrame(other, text, Infinity);
  flushFrames(other);
  return Buffer.concat(chunks);
}

describe('whole frames keep their place behind the frames built this tick', () => {
  test('writeWholeFrame: the open region first, then the frame', async () => {
    const frame = wholeFrame('"whole"');
    const { socket, log } = sink();
    queueJsonFrame(socket, '1', Infinity);
    queueJsonFrame(socket, '2', Infinity);
    await writeWholeFrame(socket, frame);
    assert.deepEqual(log, ['1+2', '"whole"']);
  });

  test('writeWholeFrameWithin: writes within the limit, after the region; refuses past it, writing nothing of its own', () => {
    const frame = wholeFrame('"whole"');
    const roomy = sink(10);
    queueJsonFrame(roomy.socket, '1', Infinity);
    assert.equal(writeWholeFrameWithin(roomy.socket, frame, 10 + frame.length), true);
    assert.deepEqual(roomy.log, ['1', '"whole"']);

    const full = sink(10);
    assert.equal(writeWholeFrameWithin(full.socket, frame, 10 + frame.length - 1), false);
    assert.deepEqual(full.log, []);

    // An empty queue takes a frame of any size.
    const empty = sink(0);
    assert.equal(writeWholeFrameWithin(empty.socket, frame, 1), true);
    assert.deepEqual(empty.log, ['"whole"']);
  });

  test('endAfterFrames: the open region goes out before the end', async () => {
    const { socket, log } = sink();
    queueJsonFrame(socket, '3', Infinity);
    await endAfterFrames(socket);
    assert.deepEqual(log, ['3', 'end']);
  });
});
