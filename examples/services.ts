// Small demo services on loopback: a user service on four ports (weights 10/2/2/4, as in the
// original gateway's configuration) and an orders service. Each reply says which instance answered.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

type Handler = (req: {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}) => { status?: number; body: unknown };

function service(instance: string, handle: Handler) {
  return createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = raw;
      try {
        body = raw === '' ? undefined : JSON.parse(raw);
      } catch {}
      const out = handle({ method: req.method ?? 'GET', path: url.pathname, query: url.searchParams, headers: req.headers, body });
      const text = JSON.stringify(out.body);
      res.writeHead(out.status ?? 200, { 'content-type': 'application/json', 'x-instance': instance });
      res.end(text);
    });
  });
}

function userService(instance: string): Handler {
  return ({ method, path, headers, body }) => {
    if (method === 'POST' && path === '/account/login') {
      const email = (body as { email?: string } | undefined)?.email ?? '';
      return { body: { code: 0, message: 'success', data: { user_id: `u-${email.split('@')[0]}`, instance } } };
    }
    if (method === 'GET' && path === '/account/profile') {
      return { body: { code: 0, message: 'success', data: { user_id: headers['x-user-id'] ?? null, instance } } };
    }
    const user = /^\/account\/users\/([^/]+)$/.exec(path);
    if (method === 'GET' && user) return { body: { code: 0, message: 'success', data: { id: decodeURIComponent(user[1]), instance } } };
    return { status: 404, body: { code: 404, message: 'not found', instance } };
  };
}

function ordersService(instance: string): Handler {
  const orders: unknown[] = [];
  return ({ method, path, query, body }) => {
    if (path !== '/orders') return { status: 404, body: { code: 404, message: 'not found', instance } };
    if (method === 'POST') {
      orders.push(body);
      return { status: 201, body: { code: 0, message: 'created', data: { id: orders.length, instance } } };
    }
    const limit = Number(query.get('limit') ?? 10);
    return { body: { code: 0, message: 'success', data: { orders: orders.slice(0, limit), instance } } };
  };
}

export interface DemoServices {
  servers: Server[];
  close(): Promise<void>;
}

/** Starts the demo services; port 0 picks free ports (tests), otherwise the documented ones. */
export async function startServices(
  ports = { user: [3001, 3002, 3003, 3004], orders: [3101] },
): Promise<DemoServices & { ports: typeof ports }> {
  const servers: Server[] = [];
  const listen = (s: Server, port: number) =>
    new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve((s.address() as AddressInfo).port));
    });
  const used = { user: [] as number[], orders: [] as number[] };
  for (const [i, port] of ports.user.entries()) {
    const s = service(`user-${i + 1}`, userService(`user-${i + 1}`));
    servers.push(s);
    used.user.push(await listen(s, port));
  }
  for (const [i, port] of ports.orders.entries()) {
    const s = service(`orders-${i + 1}`, ordersService(`orders-${i + 1}`));
    servers.push(s);
    used.orders.push(await listen(s, port));
  }
  return {
    servers,
    ports: used,
    close: async () => {
      await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    },
  };
}
