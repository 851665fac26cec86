// A circuit breaker for the store: after repeated failures, skip it for a cool-down instead of paying its timeout on every request.

export interface BreakerOptions {
  /** Consecutive failures that open the breaker. */
  readonly failures: number;
  /** How long it stays open, in ms, before one request probes the store again. */
  readonly cooldownMs: number;
}

export interface Breaker {
  /**
   * May this request use the store? Closed: yes. Open: no, until the cool-down ends; then exactly
   * one caller gets yes (the probe) and the breaker stays open for the others for another cool-down,
   * so a probe that never reports back cannot wedge it.
   */
  allow(now: number): boolean;
  /** The store answered: close. Returns true when the breaker was open (or probing) until now. */
  success(): boolean;
  /** The store failed; returns true when this failure opened the breaker. */
  failure(now: number): boolean;
  isOpen(now: number): boolean;
  /** How many times it has opened. */
  readonly trips: number;
}

export function createBreaker({ failures: threshold, cooldownMs }: BreakerOptions): Breaker {
  let failures = 0;
  let openUntil = 0;
  let trips = 0;
  return {
    allow(now) {
      if (failures < threshold) return true;
      if (now < openUntil) return false;
      openUntil = now + cooldownMs; // half-open: this caller is the probe
      return true;
    },
    success() {
      const wasOpen = failures >= threshold;
      failures = 0;
      openUntil = 0;
      return wasOpen;
    },
    failure(now) {
      failures++;
      if (failures < threshold) return false;
      // A probe's failure, or the one that crossed the threshold: (re)open for a full cool-down.
      const wasOpen = failures > threshold;
      openUntil = now + cooldownMs;
      if (!wasOpen) trips++;
      return !wasOpen;
    },
    isOpen(now) {
      return failures >= threshold && now < openUntil;
    },
    get trips() {
      return trips;
    },
  };
}
