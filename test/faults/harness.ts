// What every fault test checks besides the status: no unhandled rejection, and the process's active
// handles (sockets, servers, timers) back to where they were once everything the test started is closed.
import { expect } from 'vitest';

/** Counts of `process.getActiveResourcesInfo()` by type, e.g. { TCPSocketWrap: 2, Timeout: 1 }. */
export type Resources = Record<string, number>;

export function resources(): Resources {
  const out: Resources = {};
  for (const type of process.getActiveResourcesInfo()) out[type] = (out[type] ?? 0) + 1;
  return out;
}

/** Types whose count grew since `baseline` (the harness's own handles were there before, so they cancel out). */
export function grown(baseline: Resources, now: Resources = resources()): Resources {
  const out: Resources = {};
  for (const [type, n] of Object.entries(now)) if (n > (baseline[type] ?? 0)) out[type] = n - (baseline[type] ?? 0);
  return out;
}

/** Waits (up to `ms`) for the active handles to fall back to `baseline`; fails naming what stayed. */
export async function expectBaseline(baseline: Resources, ms = 3_000): Promise<void> {
  const deadline = performance.now() + ms;
  let extra = grown(baseline);
  while (Object.keys(extra).length > 0 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    extra = grown(baseline);
  }
  expect(extra, 'handles left behind (sockets, servers, timers)').toEqual({});
}

/** Waits until the handle counts hold still for `quietMs` (the previous test's sockets closing). */
export async function settled(quietMs = 150, ms = 3_000): Promise<Resources> {
  const deadline = performance.now() + ms;
  let last = JSON.stringify(resources());
  let since = performance.now();
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    const now = JSON.stringify(resources());
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) break;
  }
  return resources();
}

export interface FaultScope {
  /** Runs `fn` when the case ends, before the handles are counted (last deferred, first run). */
  defer(fn: () => unknown): void;
}

/**
 * One fault case: the baseline is taken and checked inside the test itself, so the harness's own
 * handles (vitest's timeout timer for the test) are the same at both ends. Everything deferred is
 * closed first; then no handle may be left behind and no rejection may have gone unhandled.
 */
export async function faultCase(body: (scope: FaultScope) => Promise<void>): Promise<void> {
  const baseline = await settled();
  const rejections = watchRejections();
  const deferred: (() => unknown)[] = [];
  try {
    await body({ defer: (fn) => deferred.push(fn) });
  } finally {
    for (const fn of deferred.reverse()) await fn();
  }
  try {
    await expectBaseline(baseline);
    rejections.check();
  } finally {
    rejections.stop();
  }
}

/** Collects unhandled rejections while a test runs; `check()` fails if there was any. */
export function watchRejections() {
  const seen: unknown[] = [];
  const listener = (reason: unknown) => seen.push(reason);
  process.on('unhandledRejection', listener);
  return {
    seen,
    check() {
      expect(
        seen.map((r) => (r instanceof Error ? r.stack : String(r))),
        'unhandled rejections',
      ).toEqual([]);
    },
    stop() {
      process.off('unhandledRejection', listener);
    },
  };
}

/** Polls `probe` until it returns true; resolves with the ms it took, or throws after `ms`. */
export async function until(probe: () => Promise<boolean>, ms = 10_000, every = 50): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await probe()) return performance.now() - start;
    if (performance.now() - start > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, every));
  }
}

/** A fetch that reports status, JSON body (when it is JSON) and how long it took. */
export async function timed(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: unknown; text: string; ms: number; headers: Headers }> {
  const start = performance.now();
  const res = await fetch(url, init);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: res.status, body, text, ms: performance.now() - start, headers: res.headers };
}
