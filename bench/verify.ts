// Per-request cost of lock 1 (token verification) for each algorithm: `npx tsx bench/verify.ts [count]`.
import { importKeys, keygen } from '../src/session/keys.ts';
import { ALGORITHMS, sessionSchema } from '../src/session/schema.ts';
import { ownKeyResolver, signToken, verifyToken } from '../src/session/tokens.ts';

const count = Number(process.argv[2] ?? 5000);
const WARMUP = 500;
const NOW = Date.now();

function stats(samples: number[]): { mean: number; p50: number; p99: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { mean: samples.reduce((a, b) => a + b, 0) / samples.length, p50: at(0.5), p99: at(0.99) };
}

const us = (ms: number) => `${(ms * 1000).toFixed(1)}`.padStart(8);

console.log(`node ${process.version}, ${count} sequential verifications per algorithm after ${WARMUP} warm-up`);
console.log('verify = the full lock-1 path: size cap, shape, jose header/payload decoding, kid lookup, signature, claims');
console.log(
  `${'alg'.padEnd(6)} ${'verify µs'.padStart(9)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'verify/s'.padStart(9)} ${'sign µs'.padStart(8)} ${'token B'.padStart(8)}`,
);

for (const alg of ALGORITHMS) {
  const k = await keygen(alg, `bench-${alg}`);
  const cfg = sessionSchema.parse({
    keys: [{ kid: k.kid, alg, privateKey: k.privateKeyPem }],
    issuer: 'https://gw.example',
    audience: 'api',
  });
  const ring = await importKeys(cfg.keys);
  const resolve = ownKeyResolver(ring.byKid);
  const opts = {
    algorithms: ring.algorithms,
    issuer: 'https://gw.example',
    audience: 'api',
    clockSkewMs: 30_000,
    maxTokenBytes: 8192,
    requiredClaims: ['sub', 'sid', 'iat', 'exp'],
  };
  const sign = () =>
    signToken(
      ring.signing!,
      { sub: 'user-42', sid: 'AbCdEfGhIjKlMnOpQrStUvWx', extra: { role: 'editor' } },
      { issuer: 'https://gw.example', audience: 'api', lifetimeSeconds: 86_400 },
      NOW,
    );
  const token = await sign();

  for (let i = 0; i < WARMUP; i++) await verifyToken(token, resolve, opts, NOW);
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const t = performance.now();
    await verifyToken(token, resolve, opts, NOW);
    samples.push(performance.now() - t);
  }
  const total = performance.now() - started;

  const signSamples: number[] = [];
  for (let i = 0; i < Math.min(count, 1000); i++) {
    const t = performance.now();
    await sign();
    signSamples.push(performance.now() - t);
  }
  const v = stats(samples);
  const s = stats(signSamples);
  console.log(
    `${alg.padEnd(6)} ${us(v.mean).padStart(9)} ${us(v.p50)} ${us(v.p99)} ${String(Math.round((count / total) * 1000)).padStart(9)} ${us(s.mean)} ${String(token.length).padStart(8)}`,
  );
}
