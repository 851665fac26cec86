// The contenders of the bench and their configs: edgegate (Node and Deno adapters), nginx and
// fast-gateway, all in front of the same upstreams with the same weights, each its own process.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './load.ts';
import { freePort, hasCommand, type Proc, startProcess } from './procs.ts';

export const WEIGHTS = [10, 2, 2, 4];
/** The public route's URL path on every contender; upstreams see /account/users/42. */
export const PUBLIC_PATH = '/api/users/42';
export const UPSTREAM_PATH = '/account/users/42';

export interface Contender {
  name: string;
  url: string;
  /** The process whose CPU time (with its descendants) is the contender's. */
  proc: Proc;
}

export type StoreConfig =
  | { type: 'memory'; maxEntries: number }
  | { type: 'redis'; url: string; timeout: number }
  | { type: 'upstash'; url: string; token: string; timeout: number };

/** Big enough for every limit to admit (the denied route's limit is 1 per hour on purpose). */
const HUGE = { algorithm: 'gcra', limit: 1_000_000_000, window: '60s' } as const;

/**
 * edgegate's bench config: `routes` routes in all (10 or 1,000), the first six doing the work of each
 * scenario, the rest as many `/api/svcN/items/:id` routes as it takes, as in a real API's route table.
 */
export function edgegateConfig(o: { ports: number[]; store: StoreConfig; routes: number; privateKeyPem: string }): object {
  const routes: object[] = [
    {
      name: 'login',
      method: 'POST',
      path: '/api/login',
      upstream: 'user',
      rewrite: '/account/login',
      login: { userId: '/data/user_id', token: '/data/token' },
    },
    { name: 'user', path: '/api/users/:id', upstream: 'user', rewrite: '/account/users/:id' },
    {
      name: 'user-checked',
      path: '/api/checked/users/:id',
      upstream: 'user',
      rewrite: '/account/users/:id',
      params: {
        path: { id: { type: 'integer', min: 1, mandatory: true } },
        query: { fields: { type: 'string', max_length: 64, regex: 'alphanumeric' }, verbose: { type: 'boolean' } },
      },
    },
    {
      name: 'user-private',
      path: '/api/private/users/:id',
      upstream: 'user',
      rewrite: '/account/users/:id',
      auth: 'session',
      limits: [{ ...HUGE, key: 'user' }],
    },
    {
      name: 'user-denied',
      path: '/api/denied/users/:id',
      upstream: 'user',
      rewrite: '/account/users/:id',
      auth: 'session',
      limits: [{ algorithm: 'fixed-window', limit: 1, window: '1h', key: 'user' }],
    },
    {
      name: 'user-keyed',
      path: '/api/keyed/users/:id',
      upstream: 'user',
      rewrite: '/account/users/:id',
      limits: [{ ...HUGE, key: { header: 'x-api-key' } }],
    },
  ];
  for (let n = 1; routes.length < o.routes; n++) {
    routes.push({ name: `svc${n}`, path: `/api/svc${n}/items/:id`, upstream: 'user', rewrite: `/svc${n}/items/:id` });
  }
  return {
    server: { accessLog: false },
    store: o.store,
    upstreams: {
      user: {
        balancer: 'weighted-random',
        targets: o.ports.map((p, i) => ({ url: `http://127.0.0.1:${p}`, weight: WEIGHTS[i] })),
      },
    },
    // The bench pushes 64 concurrent requests through one store connection: allow the store 1 s
    // rather than the default 50 ms, so the numbers are the store path's, never a fail-open shortcut.
    limits: { failure: { budget: '1s' } },
    session: { keys: [{ kid: 'bench', alg: 'ES256', privateKey: o.privateKeyPem }], issuer: 'https://edgegate.bench', audience: 'bench' },
    routes,
  };
}

export function writeConfig(dir: string, name: string, config: object): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** edgegate on the Node adapter, as a user runs it: `node adapters/node/bin.js serve` (from `root`). */
export async function startEdgegate(
  name: string,
  configFile: string,
  core?: number,
  root = ROOT,
  nodeArgs: string[] = [],
): Promise<Contender> {
  const { proc, match } = await startProcess(
    process.execPath,
    [
      ...nodeArgs,
      join(root, 'adapters/node/bin.js'),
      'serve',
      '--config',
      configFile,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--no-access-log',
    ],
    { name, core, cwd: root, ready: /edgegate listening on (http:\/\/\S+)/ },
  );
  return { name, url: match[1], proc };
}

export const DENO_BIN = join(ROOT, 'node_modules/deno/deno');
export const HAS_DENO = hasCommand(DENO_BIN);

/** edgegate on Deno (`deno run adapters/deno/main.ts`), memory store. */
export async function startDeno(configFile: string, core?: number): Promise<Contender> {
  const { proc, match } = await startProcess(
    DENO_BIN,
    [
      'run',
      '--allow-net',
      '--allow-read',
      '--allow-env',
      '--no-lock',
      'adapters/deno/main.ts',
      '--config',
      configFile,
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--no-access-log',
    ],
    {
      name: 'deno',
      core,
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' },
      ready: /edgegate listening on (http:\/\/\S+)/,
      timeoutMs: 60_000,
    },
  );
  return { name: 'edgegate (Deno)', url: match[1], proc };
}

export const NGINX_BIN = ['/usr/sbin/nginx', 'nginx'].find((b) => hasCommand(b, ['-v']));

/** nginx as a weighted reverse proxy with keep-alive upstream connections, one worker, conf in `dir`. */
export async function startNginx(dir: string, ports: number[], core?: number): Promise<Contender> {
  if (NGINX_BIN === undefined) throw new Error('nginx is not installed');
  const port = await freePort();
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const conf = `# generated by bench/run.ts
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  upstream user {
${ports.map((p, i) => `    server 127.0.0.1:${p} weight=${WEIGHTS[i]};`).join('\n')}
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    location /api/users/ {
      proxy_pass http://user/account/users/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Host $host;
    }
  }
}
`;
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  const { proc } = await startProcess(NGINX_BIN, ['-p', `${dir}/`, '-e', `${dir}/logs/error.log`, '-c', file, '-g', 'daemon off;'], {
    name: 'nginx',
    core,
    // nginx prints nothing when it starts: poll its port instead (below).
    ready: undefined,
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}${PUBLIC_PATH}`, 'nginx', proc);
  return { name: 'nginx', url, proc };
}

/** fast-gateway (npm) with the same weighted targets: bench/fast-gateway.cjs. */
export async function startFastGateway(ports: number[], core?: number): Promise<Contender> {
  const spec = {
    targets: ports.map((p, i) => ({ url: `http://127.0.0.1:${p}`, weight: WEIGHTS[i] })),
    prefix: '/api/users',
    rewrite: '/account/users',
  };
  const { proc, match } = await startProcess(process.execPath, [join(ROOT, 'bench/fast-gateway.cjs'), JSON.stringify(spec)], {
    name: 'fast-gateway',
    core,
    cwd: ROOT,
    ready: /fast-gateway listening on (http:\/\/\S+)/,
  });
  return { name: 'fast-gateway', url: match[1], proc };
}

/** Polls until `url` answers (any status), or throws with the process's output. */
export async function waitForHttp(url: string, name: string, proc?: Proc, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      return;
    } catch {
      if (Date.now() > until) throw new Error(`${name} did not answer at ${url}:\n${proc?.output().slice(-2000) ?? ''}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
