/**
 * When does a series of samples "keep growing"? The rule the soak run fails on.
 *
 * Only samples after warm-up count, and only when there are at least
 * MIN_SAMPLES of them. The series keeps growing when both hold:
 * - its Theil–Sen slope (the median of the slopes between every pair of
 *   samples, which a few outliers such as a GC peak cannot move) is positive;
 * - the median of its last third exceeds the median of its first third by
 *   more than the threshold (for RSS: 10% and at least 4 MiB; for open fds:
 *   10% and at least 3 descriptors);
 * - it is still rising at the end: the Theil–Sen slope of its last half,
 *   carried over the whole window, also exceeds the threshold.
 * A series that rises during warm-up and then stays flat passes, and so does
 * one that steps up once and stays there (the high-water mark of one fault,
 * e.g. what a client buffered while the daemon was stopped: bounded by its
 * options, not growth); one that rises steadily by more than the threshold
 * over the window fails, however noisy.
 */
export const MIN_SAMPLES = 6;

export interface Point {
  t: number;
  v: number;
}

export interface Trend {
  n: number;
  first: number;
  last: number;
  max: number;
  /** Median of the first third of the window. */
  startMedian: number;
  /** Median of the last third. */
  endMedian: number;
  /** (endMedian - startMedian) / startMedian. */
  growth: number;
  /** Theil–Sen slope, per second. */
  slopePerS: number;
  /** Theil–Sen slope of the last half of the window, per second. */
  recentSlopePerS: number;
  /** Judged: enough samples. */
  judged: boolean;
  growing: boolean;
}

export interface Threshold {
  relative: number;
  absolute: number;
}

export const RSS_THRESHOLD: Threshold = { relative: 0.1, absolute: 4 * 1024 * 1024 };
export const FD_THRESHOLD: Threshold = { relative: 0.1, absolute: 3 };

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median of pairwise slopes; subsampled to at most 400 points to bound the work. */
export function theilSen(points: Point[]): number {
  const step = Math.max(1, Math.ceil(points.length / 400));
  const p = points.filter((_, i) => i % step === 0);
  const slopes: number[] = [];
  for (let i = 0; i < p.length; i++) {
    for (let j = i + 1; j < p.length; j++) {
      const dt = p[j]!.t - p[i]!.t;
      if (dt > 0) slopes.push((p[j]!.v - p[i]!.v) / dt);
    }
  }
  return slopes.length === 0 ? 0 : median(slopes);
}

export function trend(points: Point[], threshold: Threshold): Trend {
  const values = points.map((p) => p.v);
  const n = points.length;
  const third = Math.max(1, Math.floor(n / 3));
  const startMedian = median(values.slice(0, third));
  const endMedian = median(values.slice(n - third));
  const slopePerS = n >= 2 ? theilSen(points) : 0;
  const lastHalf = points.slice(n >> 1);
  const recentSlopePerS = lastHalf.length >= 2 ? theilSen(lastHalf) : 0;
  const windowS = n >= 2 ? points[n - 1]!.t - points[0]!.t : 0;
  const judged = n >= MIN_SAMPLES;
  const limit = Math.max(startMedian * threshold.relative, threshold.absolute);
  return {
    n,
    first: values[0] ?? Number.NaN,
    last: values[n - 1] ?? Number.NaN,
    max: n > 0 ? Math.max(...values) : Number.NaN,
    startMedian,
    endMedian,
    growth: startMedian > 0 ? (endMedian - startMedian) / startMedian : 0,
    slopePerS,
    recentSlopePerS,
    judged,
    growing: judged && slopePerS > 0 && endMedian - startMedian > limit && recentSlopePerS * windowS > limit,
  };
}
