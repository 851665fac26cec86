// A stand-in for the original gateway's user service, for trying `edgegate serve --seed-config examples/seed`:
// four instances on 3001-3004 (the ports in system-config.json). Login writes the session into Redis
// the way the original's user service did (SET token-<token> <JWT with user_id> EX <session.expire>);
// the profile answers with the user_id header the gateway adds.
//   tsx examples/seed/user-service.ts [DIR]
import { createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { SignJWT } from 'jose';

const dir = process.argv[2] ?? new URL('.', import.meta.url).pathname;
const system = JSON.parse(readFileSync(join(dir, 'system-config.json'), 'utf8'));
const { algorithm, expire } = system.session as { algorithm: string; expire: number };
// Node's KeyObject reads PKCS#8 and PKCS#1 alike, as the original's jsonwebtoken did.
const key = createPrivateKey(readFileSync(join(dir, 'private.pem'), 'utf8'));
const redis = new Redis({
  host: system.redis.host,
  port: Number(system.redis.port),
  password: system.redis.auth || undefined,
  db: Number(system.redis.db ?? 0),
});
redis.on('error', (err: Error) => process.stderr.write(`user service: redis: ${err.message}\n`));

const endpoints = system.service_endpoints.user as { port: number }[];
for (const [i, { port }] of endpoints.entries()) {
  const instance = `user-${i + 1}`;
  createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const reply = (doc: unknown, status = 200) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(doc));
      };
      if (req.method === 'POST' && url.pathname === '/account/login') {
        const { email } = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as { email?: string };
        const token = randomBytes(24).toString('base64url');
        const jwt = await new SignJWT({ user_id: `u-${(email ?? 'guest').split('@')[0]}` })
          .setProtectedHeader({ alg: algorithm, typ: 'JWT' })
          .setIssuedAt()
          .setExpirationTime(`${expire}s`)
          .sign(key);
        await redis.set(`token-${token}`, jwt, 'EX', expire);
        return reply({ code: 0, message: 'success', data: { token, instance } });
      }
      if (req.method === 'GET' && url.pathname === '/account/profile') {
        return reply({
          code: 0,
          message: 'success',
          data: { user_id: req.headers.user_id ?? null, query: Object.fromEntries(url.searchParams), instance },
        });
      }
      reply({ code: 404, message: 'not found' }, 404);
    });
  }).listen(port, '127.0.0.1');
}
process.stderr.write(
  `user service: ${endpoints.map((e) => e.port).join(', ')}; sessions in Redis ${system.redis.host}:${system.redis.port}\n`,
);
