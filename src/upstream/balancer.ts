// Target selection for one upstream: weighted random (Vose's alias method) or nginx's smooth weighted round-robin.

export type BalancerKind = 'weighted-random' | 'round-robin';

export interface Balancer {
  /** Number of targets. */
  readonly size: number;
  /**
   * The index of the next target, or -1 when every target is excluded.
   * `exclude` removes targets from this one pick (ejected ones, the target that just failed); when the
   * drawn target is excluded, another is chosen among the rest in proportion to their weights.
   * It should be a cheap predicate; it may be called more than once for the same index.
   */
  pick(exclude?: (i: number) => boolean): number;
}

/**
 * Longest round-robin cycle precomputed into a table (64 Ki entries, 128 KiB at most). Longer cycles
 * (weights such as 100000:1) run nginx's O(n) loop per pick instead, which gives the same sequence.
 */
const MAX_CYCLE = 1 << 16;
/** Bound on start-up work (cycle length × targets) so a large upstream cannot stall compilation. */
const MAX_BUILD = 1 << 22;

/**
 * Builds the selection tables once. `weights` are positive integers as the config schema guarantees
 * (their sum at most 2^53 - 1, so round-robin arithmetic stays exact). `random` returns values in
 * [0, 1); round-robin uses it once, to start at a random point of its cycle.
 */
export function createBalancer(kind: BalancerKind, weights: readonly number[], random: () => number = Math.random): Balancer {
  if (weights.length === 0) throw new RangeError('createBalancer: expected at least one weight');
  let total = 0;
  for (const w of weights) {
    if (!Number.isSafeInteger(w) || w <= 0) throw new RangeError(`createBalancer: expected positive integer weights, got ${w}`);
    total += w;
  }
  if (!Number.isSafeInteger(total)) throw new RangeError('createBalancer: the sum of the weights exceeds 2^53 - 1');
  if (kind === 'weighted-random') return weightedRandom(Float64Array.from(weights), total, random);
  if (kind === 'round-robin') return roundRobin(Float64Array.from(weights), total, random);
  throw new RangeError(`createBalancer: unknown balancer "${String(kind)}"`);
}

/** One pick per call of `random`, in O(1): Vose's alias method (https://www.keithschwarz.com/darts-dice-coins/). */
function weightedRandom(weights: Float64Array, total: number, random: () => number): Balancer {
  const n = weights.length;
  // Column i is kept with probability prob[i], otherwise it yields alias[i].
  const prob = new Float64Array(n);
  const alias = new Uint32Array(n);
  const scaled = new Float64Array(n);
  // Two stacks sharing one array: small ones grow from the front, large ones from the back.
  const work = new Uint32Array(n);
  let small = 0;
  let large = n;
  for (let i = 0; i < n; i++) {
    scaled[i] = (weights[i] * n) / total;
    if (scaled[i] < 1) work[small++] = i;
    else work[--large] = i;
  }
  while (small > 0 && large < n) {
    const s = work[--small];
    const l = work[large++];
    prob[s] = scaled[s];
    alias[s] = l;
    scaled[l] = scaled[l] + scaled[s] - 1;
    if (scaled[l] < 1) work[small++] = l;
    else work[--large] = l;
  }
  // What remains is 1 up to rounding error, on either stack.
  while (large < n) {
    const l = work[large++];
    prob[l] = 1;
    alias[l] = l;
  }
  while (small > 0) {
    const s = work[--small];
    prob[s] = 1;
    alias[s] = s;
  }

  const fallback = proportionalFallback(weights, random);

  return {
    size: n,
    pick(exclude) {
      // One draw gives both the column (integer part) and the coin (fractional part).
      const u = random() * n;
      let i = Math.floor(u);
      if (i >= n) i = n - 1; // a `random` that returns 1 must not index past the table
      if (u - i >= prob[i]) i = alias[i];
      if (exclude === undefined || !exclude(i)) return i;
      // Drawing again among the rest in proportion to weight keeps the overall split proportional:
      // P(i) = w_i/W + (E/W)·(w_i/(W−E)) = w_i/(W−E), with E the excluded weight.
      return fallback(exclude);
    },
  };
}

/** O(n) weighted draw among the targets `exclude` lets through; only used when the fast pick hit an excluded one. */
function proportionalFallback(weights: Float64Array, random: () => number) {
  const n = weights.length;
  // Each index is asked once, so a predicate whose answer changes (a cool-down ending) stays consistent.
  const allowed = new Uint8Array(n);
  return (exclude: (i: number) => boolean): number => {
    let rest = 0;
    for (let i = 0; i < n; i++) {
      allowed[i] = exclude(i) ? 0 : 1;
      if (allowed[i] === 1) rest += weights[i];
    }
    if (rest === 0) return -1;
    let r = random() * rest;
    let last = -1;
    for (let i = 0; i < n; i++) {
      if (allowed[i] === 0) continue;
      last = i;
      r -= weights[i];
      if (r < 0) return i;
    }
    return last; // rounding left r at 0: the last allowed target
  };
}

/**
 * nginx's smooth weighted round-robin (ngx_http_upstream_get_peer): each step every eligible target
 * gains its weight, the largest (first on ties) is chosen and loses the eligible total. For weights
 * 5,1,1 that is a a b a c a a: the heavy target is spread out instead of sent 5 requests in a row.
 * Returns -1 when `eligible` admits none.
 */
function smoothStep(current: Float64Array, weights: Float64Array, eligible?: Uint8Array): number {
  let best = -1;
  let sum = 0;
  for (let i = 0; i < current.length; i++) {
    if (eligible !== undefined && eligible[i] === 0) continue;
    current[i] += weights[i];
    sum += weights[i];
    if (best < 0 || current[i] > current[best]) best = i;
  }
  if (best >= 0) current[best] -= sum;
  return best;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function roundRobin(weights: Float64Array, total: number, random: () => number): Balancer {
  const n = weights.length;
  // The sequence repeats every total/g picks and scaling weights by g does not change it, so divide
  // by the gcd to make the cycle (and the table) as short as possible.
  let g = 0;
  for (const w of weights) g = gcd(w, g);
  const reduced = weights.map((w) => w / g);
  const cycle = total / g;

  let next: () => number;
  if (cycle <= MAX_CYCLE && cycle * n <= MAX_BUILD) {
    // O(1) per pick: play one cycle at start-up and replay it.
    const table = n <= 0x10000 ? new Uint16Array(cycle) : new Uint32Array(cycle);
    const current = new Float64Array(n);
    for (let k = 0; k < cycle; k++) table[k] = smoothStep(current, reduced);
    // Start at a random point: many short-lived instances (one per edge isolate) would otherwise all
    // send their first requests to the heaviest target.
    let pos = Math.min(Math.floor(random() * cycle), cycle - 1);
    next = () => {
      const i = table[pos];
      pos = pos + 1 === cycle ? 0 : pos + 1;
      return i;
    };
  } else {
    // A cycle too long to tabulate: run nginx's loop live, O(n) per pick, the same sequence.
    const current = new Float64Array(n);
    const skip = Math.floor(random() * Math.min(cycle, Math.floor(MAX_BUILD / n)));
    for (let k = 0; k < skip; k++) smoothStep(current, reduced);
    next = () => smoothStep(current, reduced);
  }

  // When the scheduled target is excluded its turn goes to the others, by a second smooth round-robin
  // over the eligible ones (nginx's own loop skips unavailable peers the same way). Deterministic, and
  // over time the turns of an ejected target are shared in proportion to the remaining weights.
  const spare = new Float64Array(n);
  const eligible = new Uint8Array(n);

  return {
    size: n,
    pick(exclude) {
      const i = next();
      if (exclude === undefined || !exclude(i)) return i;
      for (let j = 0; j < n; j++) eligible[j] = exclude(j) ? 0 : 1;
      return smoothStep(spare, reduced, eligible);
    },
  };
}
