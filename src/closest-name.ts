/** The valid name a misspelt one was most likely meant to be, for "did you mean" messages. */

/** Names longer than this are compared by their first this-many characters: the cost stays bounded. */
const MAX_COMPARED = 64;

/**
 * Edit distance with adjacent transpositions (optimal string alignment):
 * insertions, deletions, substitutions and swaps of two neighbours cost 1 each.
 * Case-insensitive: `TimeOut` is zero edits from `timeout`, so a wrong case
 * always finds its option.
 *
 * @param a - one name.
 * @param b - the other.
 * @returns the number of edits that turn `a` into `b`.
 */
export function editDistance(a: string, b: string): number {
  const s = a.slice(0, MAX_COMPARED).toLowerCase();
  const t = b.slice(0, MAX_COMPARED).toLowerCase();
  // Three rows of the dynamic-programming table: two back (for swaps), one back, current.
  let before = new Array<number>(t.length + 1).fill(0);
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  let current = new Array<number>(t.length + 1).fill(0);
  for (let i = 1; i <= s.length; i++) {
    current[0] = i;
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      current[j] = best;
    }
    [before, previous, current] = [previous, current, before];
  }
  return previous[t.length]!;
}

/**
 * @param name - the name that matched nothing.
 * @param candidates - the valid names, in the order to prefer on a tie.
 * @returns the candidate fewest edits away (the first of equals), or undefined when there are none.
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(name, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
