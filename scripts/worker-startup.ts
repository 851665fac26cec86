// Measures a Worker isolate's start in workerd (Miniflare), with the bundle wrangler would deploy:
//   ready   `new Miniflare` until it listens: workerd's process start plus compiling and evaluating the
//           bundle's modules (compared with a one-line Worker to isolate the bundle's share). The module
//           is handed over as a list: with `scriptPath` alone Miniflare first parses the whole bundle
//           with acorn in Node to find its imports, which adds ~0.7 s that no deployed isolate pays;
//   first   the first request, which builds the gateway (config validation, compile step);
//   warm    a later request, the steady-state cost; first − warm ≈ the gateway build;
//   eval    importing the same bundle in Node's V8: module evaluation alone, without workerd or HTTP.
// Shared machines make these noisy: the minimum and the median of several fresh instances are shown.
// Usage: tsx scripts/worker-startup.ts [--runs N] [--config FILE]   (defaults: 9, examples/gateway.json)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Miniflare } from 'miniflare';

const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const arg = (name: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const runs = Number(arg('--runs') ?? 9);
const configText = readFileSync(resolve(root, arg('--config') ?? 'examples/gateway.json'), 'utf8');
const compatibilityDate = readFileSync(join(root, 'wrangler.toml'), 'utf8').match(/^compatibility_date\s*=\s*"([^"]+)"/m)?.[1];

// The deployed bundle: wrangler's own dry run (minified per wrangler.toml).
execFileSync(join(root, 'node_modules/.bin/wrangler'), ['deploy', '--dry-run', '--outdir', 'dist/worker'], {
  cwd: root,
  env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  stdio: 'ignore',
});
const edgegate = join(root, 'dist/worker/index.js');
const scratch = mkdtempSync(join(tmpdir(), 'edgegate-startup-'));
const hello = join(scratch, 'hello.js');
writeFileSync(hello, 'export default { fetch() { return new Response("hello", { status: 404 }); } };\n');

interface Sample {
  ready: number;
  first: number;
  warm: number;
}

async function measure(scriptPath: string): Promise<Sample> {
  const t0 = performance.now();
  const mf = new Miniflare({
    modules: [{ type: 'ESModule', path: scriptPath, contents: readFileSync(scriptPath, 'utf8') }],
    modulesRoot: dirname(scriptPath),
    compatibilityDate,
    bindings: { EDGEGATE_CONFIG: configText },
    host: '127.0.0.1',
    port: 0,
    // Drain the Worker's access log instead of printing it.
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      stdout.resume();
      stderr.resume();
    },
  });
  const url = await mf.ready;
  const t1 = performance.now();
  // An unknown path: the whole pipeline runs, no upstream is called, so only the gateway is timed.
  const first = await fetch(new URL('/startup-probe', url));
  await first.text();
  const t2 = performance.now();
  const warm: number[] = [];
  for (let i = 0; i < 20; i++) {
    const s = performance.now();
    await (await fetch(new URL('/startup-probe', url))).text();
    warm.push(performance.now() - s);
  }
  if (first.status !== 404) throw new Error(`expected 404 from the probe, got ${first.status}: is the config valid?`);
  await mf.dispose();
  return { ready: t1 - t0, first: t2 - t1, warm: median(warm) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const ms = (n: number) => `${n.toFixed(1)} ms`.padStart(10);

try {
  await measure(hello); // warms the OS file cache and workerd's binary
  const results: Record<string, Sample[]> = { hello: [], edgegate: [] };
  for (let i = 0; i < runs; i++) {
    results.hello.push(await measure(hello));
    results.edgegate.push(await measure(edgegate));
  }
  const pick = (name: string, key: keyof Sample, f: (xs: number[]) => number) => f(results[name].map((r) => r[key]));
  const min = (xs: number[]) => Math.min(...xs);
  const row = (label: string, key: keyof Sample, note = '') => {
    const [h, e] = [pick('hello', key, median), pick('edgegate', key, median)];
    const [hm, em] = [pick('hello', key, min), pick('edgegate', key, min)];
    return `  ${label.padEnd(24)}${ms(h)} (${ms(hm).trim()})${ms(e)} (${ms(em).trim()})${ms(e - h)}${note}`;
  };
  const evalMs: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await import(`${pathToFileURL(edgegate).href}?run=${i}`);
    evalMs.push(performance.now() - t);
  }
  const size = readFileSync(edgegate).byteLength;
  process.stdout.write(
    `${[
      `Worker isolate start in workerd (miniflare), median (min) of ${runs} fresh instances; bundle ${(size / 1024).toFixed(0)} KiB (dist/worker/index.js)`,
      '',
      '                               hello-world            edgegate   difference (medians)',
      row('new Miniflare → ready', 'ready', '   bundle compile + module evaluation'),
      row('first request', 'first', '   includes building the gateway'),
      row('warm request', 'warm'),
      '',
      `  gateway build on the first request ≈ first − warm = ${(pick('edgegate', 'first', median) - pick('edgegate', 'warm', median)).toFixed(1)} ms (median)`,
      `  module evaluation in Node's V8 (import of the bundle): ${ms(median(evalMs)).trim()} median, ${ms(min(evalMs)).trim()} min`,
      "  Request figures include loopback HTTP through Miniflare's entry worker. Cloudflare bills CPU time",
      '  and limits startup (global scope evaluation) to 1 s of CPU; the ready difference is the closest local proxy.',
    ].join('\n')}\n`,
  );
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
