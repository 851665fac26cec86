// A small load generator for requests that differ per request: each carries `header` with a value drawn
// at random from a fixed pool of `keys` values. autocannon can only vary requests through a
// setupRequest callback per request (and wrk through Lua, when installed); an undici Pool with a fixed
// pool of pre-built header values costs the same per request whatever the pool size, so a 10-key and a
// 100,000-key run differ only in the keys. Prints one JSON line: { requests, rps, p50, p99, non2xx, errors }.
//
//   node --import tsx bench/keyed-load.ts '{"url":"http://127.0.0.1:8080/x","connections":64,"durationS":5,"header":"x-api-key","keys":100000}'
import { Pool } from 'undici';

const spec = JSON.parse(process.argv[2]) as { url: string; connections: number; durationS: number; header: string; keys: number };
const url = new URL(spec.url);
const path = url.pathname + url.search;
// Same width for every pool size, so the request bytes do not depend on it.
const values = Array.from({ length: spec.keys }, (_, i) => `key-${String(i).padStart(8, '0')}`);
const headers = values.map((v) => ({ [spec.header]: v }));

const pool = new Pool(url.origin, { connections: spec.connections, pipelining: 1, keepAliveTimeout: 60_000 });
const latencies: number[] = [];
let non2xx = 0;
let errors = 0;
const deadline = performance.now() + spec.durationS * 1000;
const started = performance.now();

async function worker(): Promise<void> {
  while (performance.now() < deadline) {
    const t = performance.now();
    try {
      const res = await pool.request({ path, method: 'GET', headers: headers[Math.floor(Math.random() * headers.length)] });
      for await (const _ of res.body) {
        // drain
      }
      if (res.statusCode < 200 || res.statusCode > 299) non2xx++;
      latencies.push(performance.now() - t);
    } catch {
      errors++;
    }
  }
}

await Promise.all(Array.from({ length: spec.connections }, worker));
const seconds = (performance.now() - started) / 1000;
await pool.close();
latencies.sort((a, b) => a - b);
const at = (q: number) =>
  latencies.length === 0 ? Number.NaN : latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
process.stdout.write(
  `${JSON.stringify({ requests: latencies.length, rps: latencies.length / seconds, p50: at(0.5), p99: at(0.99), non2xx, errors })}\n`,
);
