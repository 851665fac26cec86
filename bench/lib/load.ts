// Load generators, each run as its own process on the load generator's core: wrk when installed
// (lighter, so the contender saturates before it does), else autocannon; and bench/keyed-load.ts for
// requests that each carry a different header value (the rate-limit key scale test).
import { fileURLToPath } from 'node:url';
import { hasCommand, runToEnd } from './procs.ts';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const WRK = process.env.BENCH_LOADGEN !== 'autocannon' && hasCommand('wrk', ['-v']);

export interface LoadSpec {
  url: string;
  connections: number;
  durationS: number;
  headers?: Record<string, string>;
  /** Core to pin the generator to (taskset). */
  core?: number;
}

export interface LoadResult {
  requests: number;
  rps: number;
  /** Latency percentiles, ms. */
  p50: number;
  p99: number;
  non2xx: number;
  errors: number;
}

function toMs(value: string, unit: string): number {
  const v = Number(value);
  if (unit === 'us') return v / 1000;
  if (unit === 'ms') return v;
  if (unit === 's') return v * 1000;
  if (unit === 'm') return v * 60_000;
  return Number.NaN;
}

async function wrk(spec: LoadSpec): Promise<LoadResult> {
  const args = ['-t1', `-c${spec.connections}`, `-d${spec.durationS}s`, '--latency', '--timeout', '5s'];
  for (const [k, v] of Object.entries(spec.headers ?? {})) args.push('-H', `${k}: ${v}`);
  args.push(spec.url);
  const { stdout, stderr, code } = await runToEnd('wrk', args, { core: spec.core, timeoutMs: (spec.durationS + 30) * 1000 });
  if (code !== 0) throw new Error(`wrk exited ${code}: ${stderr}${stdout}`);
  const pct = (p: string) => {
    const m = stdout.match(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm'));
    return m === null ? Number.NaN : toMs(m[1], m[2]);
  };
  const total = stdout.match(/^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)/m);
  if (total === null) throw new Error(`wrk: unexpected output:\n${stdout}`);
  const requests = Number(total[1]);
  const seconds = toMs(total[2], total[3]) / 1000;
  const non2xx = Number(stdout.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const sock = stdout.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const errors = sock === null ? 0 : Number(sock[1]) + Number(sock[2]) + Number(sock[3]) + Number(sock[4]);
  return { requests, rps: requests / seconds, p50: pct('50'), p99: pct('99'), non2xx, errors };
}

async function autocannon(spec: LoadSpec): Promise<LoadResult> {
  const args = [`${ROOT}/node_modules/autocannon/autocannon.js`, '-c', String(spec.connections), '-d', String(spec.durationS), '-j'];
  for (const [k, v] of Object.entries(spec.headers ?? {})) args.push('-H', `${k}=${v}`);
  args.push(spec.url);
  const { stdout, stderr, code } = await runToEnd(process.execPath, args, { core: spec.core, timeoutMs: (spec.durationS + 30) * 1000 });
  if (code !== 0) throw new Error(`autocannon exited ${code}: ${stderr}`);
  const r = JSON.parse(stdout) as {
    requests: { total: number };
    latency: { p50: number; p99: number };
    non2xx: number;
    errors: number;
    timeouts: number;
    duration: number;
  };
  return {
    requests: r.requests.total,
    rps: r.requests.total / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    non2xx: r.non2xx,
    errors: r.errors + r.timeouts,
  };
}

/** One load run against `spec.url`; resolves when the generator has finished. */
export function runLoad(spec: LoadSpec): Promise<LoadResult> {
  return WRK ? wrk(spec) : autocannon(spec);
}

export const LOADGEN_NAME = WRK ? 'wrk' : 'autocannon';

/**
 * Requests whose `header` takes a random value from a pool of `keys` distinct values, by
 * bench/keyed-load.ts (undici Pool). Used for both sides of the key-scale comparison so that only the
 * number of distinct keys differs.
 */
export async function runKeyedLoad(spec: LoadSpec & { header: string; keys: number }): Promise<LoadResult> {
  const args = ['--import', 'tsx', `${ROOT}/bench/keyed-load.ts`, JSON.stringify(spec)];
  const { stdout, stderr, code } = await runToEnd(process.execPath, args, {
    core: spec.core,
    cwd: ROOT,
    timeoutMs: (spec.durationS + 60) * 1000,
  });
  if (code !== 0) throw new Error(`keyed-load exited ${code}: ${stderr}`);
  return JSON.parse(stdout.trim().split('\n').pop() as string) as LoadResult;
}
