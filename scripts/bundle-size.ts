// `npm run size`: bundles the Worker as `wrangler deploy` would (dry run, offline), then prints its raw
// and gzipped size against the 120 KiB goal and which packages the bytes come from.
// Usage: tsx scripts/bundle-size.ts [--strict]   (--strict: exit 1 when over the goal, for CI)
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const GOAL_GZIP_KIB = 120;
const root = resolve(fileURLToPath(new URL('..', import.meta.url)));
const outdir = join(root, 'dist/worker');
const metafile = join(outdir, 'bundle-meta.json');

interface Metafile {
  inputs: Record<string, { bytes: number }>;
  outputs: Record<string, { bytes: number; inputs: Record<string, { bytesInOutput: number }> }>;
}

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

rmSync(outdir, { recursive: true, force: true });
const wranglerLog = execFileSync(
  join(root, 'node_modules/.bin/wrangler'),
  ['deploy', '--dry-run', '--outdir', relative(root, outdir), '--metafile', relative(root, metafile)],
  {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
);

const meta = JSON.parse(readFileSync(metafile, 'utf8')) as Metafile;
const [outName, output] = Object.entries(meta.outputs).find(([name]) => name.endsWith('.js')) ?? [];
if (outName === undefined || output === undefined) throw new Error(`no .js output in ${metafile}`);
const code = readFileSync(resolve(root, outName));
const gzip = gzipSync(code, { level: 9 }).byteLength;

// Attribute output bytes to packages (node_modules/<pkg>) or to our own top-level folders.
const groups = new Map<string, { bytes: number; files: Map<string, number> }>();
for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
  const pkg = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/);
  const name = pkg !== null ? pkg[1] : (input.match(/^(?:\.\.\/)*(src\/[^/]+|adapters\/[^/]+)/)?.[1] ?? input);
  const file = pkg !== null ? pkg[2] : input;
  const group = groups.get(name) ?? { bytes: 0, files: new Map() };
  group.bytes += bytesInOutput;
  group.files.set(file, (group.files.get(file) ?? 0) + bytesInOutput);
  groups.set(name, group);
}
const ranked = [...groups].sort((a, b) => b[1].bytes - a[1].bytes);

const out: string[] = [];
out.push(`Worker bundle (${relative(root, resolve(root, outName))}, as wrangler deploys it; minify per wrangler.toml)`);
out.push(`  raw   ${kib(code.byteLength)}`);
out.push(
  `  gzip  ${kib(gzip)}  (goal ≤ ${GOAL_GZIP_KIB} KiB: ${gzip <= GOAL_GZIP_KIB * 1024 ? 'ok' : `OVER by ${kib(gzip - GOAL_GZIP_KIB * 1024)}`})`,
);
const wranglerLine = wranglerLog.match(/Total Upload:.*$/m)?.[0];
if (wranglerLine !== undefined) out.push(`  wrangler says: ${wranglerLine}`);
out.push('', 'Biggest contributors (share of the raw output):');
for (const [name, group] of ranked.slice(0, 12)) {
  out.push(`  ${name.padEnd(28)} ${kib(group.bytes).padStart(10)}  ${((100 * group.bytes) / code.byteLength).toFixed(1).padStart(5)}%`);
}
out.push('', 'Biggest files of the top three:');
for (const [name, group] of ranked.slice(0, 3)) {
  const files = [...group.files].sort((a, b) => b[1] - a[1]);
  const shown = files.slice(0, 5).map(([f, b]) => `${f} ${kib(b)}`);
  out.push(`  ${name}: ${shown.join(', ')}${files.length > 5 ? `, … ${files.length - 5} more files` : ''}`);
}
const locales = groups.get('zod')?.files;
if (locales !== undefined) {
  const bytes = [...locales].filter(([f]) => f.includes('/locales/')).reduce((n, [, b]) => n + b, 0);
  if (bytes > 0) {
    out.push(
      '',
      `zod's ${kib(bytes)} of locales come from \`import { z } from 'zod'\`: the namespace object is kept whole.`,
      "`import * as z from 'zod'` in src lets the bundler drop them (and the unused API); zod/mini goes further.",
    );
  }
}
process.stdout.write(`${out.join('\n')}\n`);
if (process.argv.includes('--strict') && gzip > GOAL_GZIP_KIB * 1024) process.exit(1);
