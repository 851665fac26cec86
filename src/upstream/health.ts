// Passive health of one upstream's targets: consecutive failures eject a target for a growing cool-down.

export interface HealthOptions {
  /** Consecutive failures that eject a healthy target. */
  failures: number;
  /** Length of the first ejection, in ms. */
  cooldown: number;
  /** Cap on the doubling cool-down, in ms (it also caps `cooldown` itself). */
  maxCooldown: number;
}

export type TargetState = 'healthy' | 'ejected' | 'probation';

export interface TargetHealth {
  state: TargetState;
  /** Consecutive failures counted since the last success or ejection. */
  failures: number;
  /** Ejections in a row without a success in between; the next cool-down is `cooldown · 2^ejections`. */
  ejections: number;
  /** When the current ejection ends (ms since the epoch); 0 when not ejected. */
  ejectedUntil: number;
}

export interface Health {
  readonly size: number;
  /** True while target `i` sits out a cool-down. Two comparisons; can be passed as a balancer's `exclude`. */
  isEjected(i: number): boolean;
  /** Target `i` answered well: forget its failures and its ejection history. */
  success(i: number): void;
  /** Target `i` failed (connection error, timeout, 502/503/504): count it, perhaps eject it. */
  failure(i: number): void;
  /** Every target's state, for logs and tests. */
  snapshot(): TargetHealth[];
}

/** Enough doublings to pass any sane `maxCooldown`; stops `2 ** level` from overflowing. */
const MAX_LEVEL = 52;

/**
 * Outlier ejection in the manner of Envoy's consecutive-5xx detection and nginx's max_fails/fail_timeout:
 * - `failures` failures in a row eject a target for `cooldown` ms;
 * - when the cool-down ends the target is on probation: one success makes it healthy again (and
 *   resets the doubling), one failure ejects it again for twice as long, up to `maxCooldown`;
 * - outcomes reported while a target is ejected are ignored: they belong to requests sent before the
 *   ejection and say nothing new;
 * - the last target not ejected is never ejected. With every target failing, sending to one of them is
 *   still better than refusing everything: passive health only learns of a recovery through traffic,
 *   and the client gets the upstream's own error. Its failures keep counting, so it is ejected as soon
 *   as another target comes back.
 */
export function createHealth(n: number, opts: HealthOptions, now: () => number): Health {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`createHealth: expected a positive target count, got ${n}`);
  const { failures: threshold, cooldown, maxCooldown } = opts;
  if (!Number.isInteger(threshold) || threshold < 1) throw new RangeError('createHealth: failures must be a positive integer');
  if (!(cooldown >= 0 && Number.isFinite(cooldown))) {
    throw new RangeError('createHealth: cooldown must be a finite duration ≥ 0');
  }
  if (!(maxCooldown >= 0 && Number.isFinite(maxCooldown))) {
    throw new RangeError('createHealth: maxCooldown must be a finite duration ≥ 0');
  }

  const fails = new Uint32Array(n);
  const level = new Uint8Array(n);
  // An ejection covers [from, until). Keeping `from` means a clock stepping backwards ends an ejection
  // early rather than stretching it by the size of the step.
  const from = new Float64Array(n);
  const until = new Float64Array(n);

  const ejectedAt = (i: number, t: number): boolean => t < until[i] && t >= from[i];

  function anotherAvailable(i: number, t: number): boolean {
    for (let j = 0; j < n; j++) if (j !== i && !ejectedAt(j, t)) return true;
    return false;
  }

  return {
    size: n,
    isEjected: (i) => ejectedAt(i, now()),

    success(i) {
      if (ejectedAt(i, now())) return;
      fails[i] = 0;
      level[i] = 0;
    },

    failure(i) {
      const t = now();
      if (ejectedAt(i, t)) return;
      if (fails[i] < 0xffffffff) fails[i]++;
      // On probation (ejected before, no success since) one failure is enough.
      if (level[i] === 0 && fails[i] < threshold) return;
      if (!anotherAvailable(i, t)) return;
      from[i] = t;
      until[i] = t + Math.min(cooldown * 2 ** level[i], maxCooldown);
      if (level[i] < MAX_LEVEL) level[i]++;
      fails[i] = 0;
    },

    snapshot() {
      const t = now();
      const out: TargetHealth[] = [];
      for (let i = 0; i < n; i++) {
        const ejected = ejectedAt(i, t);
        out.push({
          state: ejected ? 'ejected' : level[i] > 0 ? 'probation' : 'healthy',
          failures: fails[i],
          ejections: level[i],
          ejectedUntil: ejected ? until[i] : 0,
        });
      }
      return out;
    },
  };
}
