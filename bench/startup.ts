// Start-up cost: building the gateway from a config document in-process (parse and validate, compile
// routes, rules and tables, import session keys), as `createGateway(config)` + `await ready`.
// Prints one JSON line: { first, median, min, max, n } in ms; `first` includes the JIT's cold start.
//
//   node --import tsx bench/startup.ts examples/gateway.json [n]
import { readFileSync } from 'node:fs';
import { createGateway } from '../src/gateway.ts';

const doc = JSON.parse(readFileSync(process.argv[2], 'utf8')) as Record<string, unknown>;
const n = Number(process.argv[3] ?? 30);
const times: number[] = [];
for (let i = 0; i <= n; i++) {
  const t = performance.now();
  const gateway = createGateway(structuredClone(doc) as never, { logError: () => {} });
  await gateway.ready;
  times.push(performance.now() - t);
  await gateway.close();
}
const first = times.shift() as number;
times.sort((a, b) => a - b);
process.stdout.write(`${JSON.stringify({ first, median: times[times.length >> 1], min: times[0], max: times[times.length - 1], n })}\n`);
