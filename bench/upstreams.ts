// The bench's upstreams, run as their own process (`node --import tsx bench/upstreams.ts [count]`) so
// they never share an event loop with a contender: small JSON replies over keep-alive, one server per
// target on a free loopback port. Prints `upstreams {"ports":[...]}` once all listen.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

const count = Number(process.argv[2] ?? 4);
const servers: Server[] = [];
const ports: number[] = [];

for (let i = 0; i < count; i++) {
  // Every path answers the same small reply; `user_id` lets a login route make a session from it.
  const body = Buffer.from(JSON.stringify({ code: 0, message: 'success', data: { user_id: 'u-bench', instance: `u${i + 1}` } }));
  const headers = ['content-type', 'application/json', 'content-length', String(body.byteLength)];
  const server = createServer((req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      res.writeHead(200, headers);
      res.end(body);
      return;
    }
    req.on('end', () => {
      res.writeHead(200, headers);
      res.end(body);
    });
    req.resume();
  });
  // Longer than a bench run's pauses, so pooled upstream connections are not closed between rounds.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 125_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  ports.push((server.address() as AddressInfo).port);
}

process.stdout.write(`upstreams ${JSON.stringify({ ports })}\n`);

const stop = () => {
  for (const s of servers) {
    s.close();
    s.closeAllConnections();
  }
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
