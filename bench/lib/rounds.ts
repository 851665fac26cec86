// Rounds: each member of a group is loaded in turn (A B C A B C …) after a warm-up, so that machine
// noise and JIT warm-up fall on every member alike; per round, the contender's CPU time is read from
// /proc before and after, and divided by the requests served.
import type { LoadResult } from './load.ts';
import { treeCpuMs } from './procs.ts';

export interface Member {
  label: string;
  /** The contender's pid (CPU is summed over it and its descendants). */
  pid: number;
  run(durationS: number): Promise<LoadResult>;
  /** Optional counters read before and after each round (Redis INFO, error lines). */
  snapshot?(): Promise<Record<string, number>>;
}

export interface Round extends LoadResult {
  /** Contender CPU time per request, µs. */
  cpuUs: number;
  /** Contender CPU use during the round, in cores (1.0 = one core busy). */
  cores: number;
  /** Per-request deltas of the snapshot counters. */
  perRequest: Record<string, number>;
}

export async function measure(m: Member, durationS: number): Promise<Round> {
  const before = m.snapshot ? await m.snapshot() : {};
  const cpu0 = treeCpuMs(m.pid);
  const t0 = performance.now();
  const r = await m.run(durationS);
  const wall = performance.now() - t0;
  const cpu1 = treeCpuMs(m.pid);
  const after = m.snapshot ? await m.snapshot() : {};
  const perRequest: Record<string, number> = {};
  for (const k of Object.keys(after)) perRequest[k] = r.requests > 0 ? ((after[k] ?? 0) - (before[k] ?? 0)) / r.requests : Number.NaN;
  const cpuMs = cpu1 - cpu0;
  return { ...r, cpuUs: r.requests > 0 ? (cpuMs * 1000) / r.requests : Number.NaN, cores: cpuMs / wall, perRequest };
}

export interface GroupOptions {
  rounds: number;
  durationS: number;
  warmupS: number;
  log?: (line: string) => void;
}

/** Warm-up for each member, then `rounds` rounds in alternation. */
export async function runGroup(name: string, members: Member[], o: GroupOptions): Promise<Map<string, Round[]>> {
  const out = new Map<string, Round[]>(members.map((m) => [m.label, []]));
  const log = o.log ?? (() => {});
  if (o.warmupS > 0) for (const m of members) await m.run(o.warmupS);
  for (let r = 0; r < o.rounds; r++) {
    for (const m of members) {
      const res = await measure(m, o.durationS);
      (out.get(m.label) as Round[]).push(res);
      log(
        `  [${name}] round ${r + 1}/${o.rounds} ${m.label.padEnd(34)} ${fmtInt(res.rps).padStart(8)} req/s  p50 ${fmtMs(res.p50)}  p99 ${fmtMs(res.p99)}  ${fmtUs(res.cpuUs)} µs CPU/req  ${res.cores.toFixed(2)} cores${res.non2xx + res.errors > 0 ? `  non-2xx ${res.non2xx} errors ${res.errors}` : ''}`,
      );
    }
  }
  return out;
}

export interface Spread {
  median: number;
  min: number;
  max: number;
}

export function spread(values: number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  return { median, min: v[0], max: v[v.length - 1] };
}

/** Per-round ratios a[i] / b[i] (same round), summarised. */
export function ratio(a: number[], b: number[]): Spread {
  return spread(a.map((x, i) => x / b[i]));
}

export const fmtInt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
export const fmtMs = (n: number) => (Number.isFinite(n) ? (n < 1 ? n.toFixed(2) : n < 10 ? n.toFixed(2) : n.toFixed(1)) : '–');
export const fmtUs = (n: number) => (Number.isFinite(n) ? (n < 10 ? n.toFixed(1) : n.toFixed(0)) : '–');
export const fmtX = (s: Spread) => (Number.isFinite(s.median) ? `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})` : '–');
export const fmtSpreadInt = (s: Spread) => (Number.isFinite(s.median) ? `${fmtInt(s.median)} (${fmtInt(s.min)}–${fmtInt(s.max)})` : '–');
