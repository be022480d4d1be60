/**
 * The rule the soak run fails on ("keeps growing" after warm-up): a steady
 * rise beyond the threshold is caught however noisy; a flat series with
 * peaks, or one too short to judge, is not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FD_THRESHOLD, RSS_THRESHOLD, trend, type Point } from '../bench/soak/trend.js';

const MiB = 1024 * 1024;
/** A deterministic noise in [-1, 1). */
const noise = (i: number): number => (((i * 7919) % 200) / 100) - 1;

function points(n: number, value: (i: number) => number): Point[] {
  return Array.from({ length: n }, (_, i) => ({ t: i * 5, v: value(i) }));
}

test('a steady RSS rise of 20% over the window keeps growing, even with noise', () => {
  const t = trend(points(100, (i) => 60 * MiB * (1 + 0.2 * i / 99) + 3 * MiB * noise(i)), RSS_THRESHOLD);
  assert.equal(t.growing, true);
});

test('a flat RSS with GC-like peaks does not keep growing', () => {
  const t = trend(points(100, (i) => 60 * MiB + (i % 10 === 0 ? 20 * MiB : 0) + MiB * noise(i)), RSS_THRESHOLD);
  assert.equal(t.growing, false);
});

test('a rise below the threshold (5%, under 4 MiB) is not growth', () => {
  const t = trend(points(100, (i) => 60 * MiB * (1 + 0.05 * i / 99)), RSS_THRESHOLD);
  assert.equal(t.growing, false);
});

test('open descriptors that climb by one every few samples keep growing; a steady count does not', () => {
  assert.equal(trend(points(60, (i) => 21 + Math.floor(i / 6)), FD_THRESHOLD).growing, true);
  assert.equal(trend(points(60, (i) => 21 + (i % 3 === 0 ? 2 : 0)), FD_THRESHOLD).growing, false);
});

test('a single step up that then stays flat (one fault\'s high-water mark) is not growth; steps that go on are', () => {
  // RSS (MiB) of a binary-message client in a 60-s CI soak, sampled every 2 s after warm-up: it
  // rose once, around the client kill at 45 s, and stayed there.
  const seen = [57.8, 58.0, 58.9, 59.0, 59.7, 59.7, 59.6, 59.7, 62.2, 63.7, 63.4, 63.7, 63.8, 63.4, 63.7, 63.6, 63.7, 64.0, 63.5];
  const step = [54.4, 54.8, 58.0, 54.4, 56.8, 56.4, 57.3, 57.9, 57.7, ...seen];
  const once = trend(step.map((v, i) => ({ t: 15 + i * 2, v: v * MiB })), RSS_THRESHOLD);
  assert.ok(once.endMedian - once.startMedian > 4 * MiB && once.slopePerS > 0, 'the old rule alone would have failed it');
  assert.equal(once.growing, false);
  // The same 5-MiB step every 30 s for an hour keeps growing.
  const stairs = trend(points(720, (i) => 60 * MiB + 5 * MiB * Math.floor(i / 6) + MiB * noise(i)), RSS_THRESHOLD);
  assert.equal(stairs.growing, true);
});

test('fewer than 6 samples are not judged', () => {
  const t = trend(points(5, (i) => 10 * MiB * (i + 1)), RSS_THRESHOLD);
  assert.equal(t.judged, false);
  assert.equal(t.growing, false);
});
