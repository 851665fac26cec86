// createGateway(config, deps): the one fetch handler, and the fixed order of its pipeline.

import type { Context } from 'hono';
import { Hono } from 'hono';
import { TrieRouter } from 'hono/router/trie-router';
import { checkDeclaredLength, limitStream, parseBody, readBody } from './body.ts';
import { envelope, type InnerRequest } from './compat/envelope.ts';
import { type CompiledRoute, compile } from './config/compile.ts';
import { parseConfig } from './config/load.ts';
import type { Config, ConfigInput } from './config/schema.ts';
import type { RequestContext, StoreStep } from './context.ts';
import { errorResponse, GatewayError, StoreError } from './errors.ts';
import { problemFor } from './limits/headers.ts';
import { createLimiter } from './limits/limiter.ts';
import { createSessions, type Sessions } from './session/index.ts';
import { createTokenSessions, type TokenSessions } from './session/token-sessions.ts';
import { memoryStore } from './store/memory.ts';
import type { Command, Store } from './store/store.ts';
import { clientResponseHeaders, requestIdFor, upstreamRequestHeaders } from './upstream/headers.ts';

export interface AccessLogEntry {
  time: string;
  method: string;
  path: string;
  route: string | null;
  status: number;
  upstream: string | null;
  duration_ms: number;
  request_id: string;
  ip: string;
}

export interface GatewayDeps {
  /** Shared state; defaults to a memory store sized by `config.store`. */
  store?: Store;
  /** The client for upstream calls; each runtime brings its fastest. */
  fetch?: typeof fetch;
  now?: () => number;
  random?: () => number;
  /** The peer address as the runtime sees it (socket, CF-Connecting-IP, ...). */
  clientIp?: (request: Request, env: unknown) => string | undefined;
  /** One entry per request when `server.accessLog` is on. */
  accessLog?: (entry: AccessLogEntry) => void;
  /** Failures the gateway handled but an operator should see (never secrets). */
  logError?: (message: string, error?: unknown) => void;
}

export interface Gateway {
  fetch(request: Request, env?: unknown, executionCtx?: unknown): Promise<Response>;
  readonly config: Config;
  readonly store: Store;
  /**
   * Settles once the async part of start-up is done (key import); rejects with a ConfigError
   * naming every problem. Requests wait for it; servers should await it before listening.
   */
  readonly ready: Promise<void>;
  /** Session administration (revocation, direct issue), once ready; undefined without sessions. */
  sessions(): Promise<Sessions | undefined>;
  close(): Promise<void>;
}

type Env = {
  Variables: { ip: string; peer: string; requestId: string; route?: CompiledRoute; target?: string; allow?: string[] };
};

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
/** Route tables larger than this are matched by a trie (see buildApp). */
const TRIE_ROUTER_FROM = 100;
/** An idempotent request's body up to this size is buffered so that a retry can resend it. */
const REPLAYABLE_BODY = 64 * 1024;

/** The body's fields appended to the query string (scalars as text, the rest as JSON). */
function bodyAsQuery(body: unknown, query: URLSearchParams): string {
  const out = new URLSearchParams(query);
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    for (const [k, v] of Object.entries(body)) {
      if (v === undefined || v === null) continue;
      out.append(k, typeof v === 'object' ? JSON.stringify(v) : String(v));
    }
  }
  const s = out.toString();
  return s === '' ? '' : `?${s}`;
}

export function createGateway(input: ConfigInput | Config, deps: GatewayDeps = {}): Gateway {
  const config = parseConfig(input);
  const now = deps.now ?? Date.now;
  // Called through a closure: workerd's global fetch throws "Illegal invocation" when detached.
  const upstreamFetch = deps.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
  const compiled = compile(config, { fetch: upstreamFetch, now, random: deps.random ?? Math.random });
  const store = deps.store ?? memoryStore({ maxEntries: config.store.type === 'memory' ? config.store.maxEntries : undefined, now });
  const logError = deps.logError ?? ((message, error) => console.error(message, error));
  const limiter = createLimiter(
    { limits: config.limits, routes: config.routes },
    { now, log: (event) => logError(`rate limit: ${event.type}`, event) },
  );
  const routeLimiters = compiled.routes.map((r) => limiter.forRoute(r.index));
  const needsSessions =
    config.session !== undefined || config.routes.some((r) => (r.auth !== 'public' && r.auth !== 'token') || r.login !== undefined);
  let sessions: Sessions | undefined;
  let tokenSessions: TokenSessions | undefined;
  /** "always-200": the gateway's own replies say 200 and carry the code in the body, as the original's did. */
  const withStatus = (response: Response): Response =>
    config.server.errorStatus === 'always-200' && response.status !== 200
      ? new Response(response.body, { status: 200, headers: response.headers })
      : response;
  let reservedHeaders: readonly string[] = [];

  function clientIp(request: Request, peer: string): string {
    if (compiled.trustedProxy === undefined || !compiled.trustedProxy(peer)) return peer;
    // Walk X-Forwarded-For from the right, past our own proxies, to the first address we did not add.
    const xff = request.headers.get('x-forwarded-for');
    if (xff === null) return peer;
    const hops = xff.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i].trim();
      if (!compiled.trustedProxy(hop)) return hop;
    }
    return hops[0].trim();
  }

  /**
   * Runs every stateful step in ONE store round trip, then lets each read its results. A step
   * with a budget (rate limits: tens of ms) bounds the wait; past it, every step gets `fail`.
   */
  async function runSteps(steps: StoreStep[], budgetMs: number | undefined): Promise<void> {
    const commands: Command[] = [];
    for (const s of steps) commands.push(...s.commands);
    if (commands.length === 0) {
      for (const s of steps) await s.apply([]);
      return;
    }
    let results: readonly unknown[];
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const batch = store.batch(commands);
      results =
        budgetMs === undefined
          ? await batch
          : await Promise.race([
              batch,
              new Promise<never>((_, reject) => {
                timer = setTimeout(() => reject(new StoreError('timeout', `store slower than ${budgetMs} ms`)), budgetMs);
              }),
            ]);
    } catch (err) {
      const failure = err instanceof StoreError ? err : new StoreError('error', 'store failed', { cause: err });
      logError(`store ${store.kind} failed: ${failure.reason}`, failure.message);
      for (const s of steps) s.fail(failure);
      return;
    } finally {
      clearTimeout(timer);
    }
    let offset = 0;
    for (const s of steps) {
      await s.apply(results.slice(offset, offset + s.commands.length));
      offset += s.commands.length;
    }
  }

  /** `inner`: a request unwrapped from the envelope, with its body already parsed. */
  async function handle(c: Context<Env>, route: CompiledRoute, inner?: InnerRequest): Promise<Response> {
    const request = inner?.request ?? c.req.raw;
    const ip = c.get('ip');
    c.set('route', route);
    if (route.ipAllowed !== undefined && !route.ipAllowed(ip)) throw new GatewayError('forbidden');
    checkDeclaredLength(request, route.bodyLimit);

    const url = new URL(request.url);
    const params = inner === undefined ? (c.req.param() as Record<string, string>) : {};
    const ctx: RequestContext = {
      request,
      url,
      routeIndex: route.index,
      params,
      ip,
      requestId: c.get('requestId'),
      now: now(),
      upstreamHeaders: new Headers(),
      responseHeaders: new Headers(),
    };

    // CPU checks first: parameters (reading the body only when a rule needs it).
    let buffered: Uint8Array | undefined;
    let parsed: unknown;
    if (route.needsBody) {
      buffered = await readBody(request, route.bodyLimit);
      parsed = inner === undefined ? parseBody(buffered, request.headers.get('content-type')) : inner.body;
    }
    if (route.checkParams !== undefined) {
      const errors = route.checkParams({ body: parsed, query: url.searchParams, path: params });
      if (errors.length > 0) throw new GatewayError('invalidData', { errors });
    }

    // Credentials (CPU), then every stateful check of the request in one store round trip.
    const steps: StoreStep[] = [];
    if (route.config.auth === 'token') steps.push((tokenSessions as TokenSessions).authenticate(ctx));
    else if (sessions !== undefined && route.config.auth !== 'public') {
      const step = await sessions.authenticate(ctx, route.index);
      if (step !== undefined) steps.push(step);
    }
    const limits = routeLimiters[route.index];
    if (limits !== undefined) steps.push(limits.step(ctx));
    // The limits' short budget bounds the batch only when it carries nothing else: a session check
    // fails closed, so it waits for the store's own timeout rather than turn a slow store into a 503.
    if (steps.length > 0) await runSteps(steps, steps.length === 1 && limits !== undefined ? limits.budgetMs : undefined);
    if (route.config.logout === true && sessions !== undefined) await sessions.logout(ctx);

    const upstream = route.upstream;
    if (upstream === undefined) {
      if (route.config.logout === true) return c.json({ code: 0, message: 'success' }, 200, Object.fromEntries(ctx.responseHeaders));
      throw new GatewayError('noEndpoint');
    }
    const idempotent = IDEMPOTENT.has(request.method) || request.headers.has('idempotency-key');
    // GET and HEAD carry no body; asking for one would make @hono/node-server build a full Request.
    const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && request.body !== null;
    if (buffered === undefined && idempotent && upstream.retries > 0 && hasBody) {
      const declared = Number(request.headers.get('content-length') ?? Number.NaN);
      if (declared <= REPLAYABLE_BODY) buffered = await readBody(request, route.bodyLimit);
    }

    let body: ReadableStream<Uint8Array> | Uint8Array | null = null;
    let bodyFault: (() => GatewayError | undefined) | undefined;
    let bodyAbort: AbortController | undefined;
    let search = url.search;
    const forward = route.config.forward;
    if (forward?.bodyAsQuery === true) {
      search = bodyAsQuery(parsed, url.searchParams);
      buffered = undefined;
    } else if (buffered !== undefined) body = buffered.byteLength > 0 ? buffered : null;
    else if (hasBody) {
      const abort = new AbortController();
      bodyAbort = abort;
      const limited = limitStream(request.body, route.bodyLimit, (fault) => abort.abort(fault));
      body = limited.stream;
      bodyFault = limited.fault;
    }

    const peer = c.get('peer');
    const headers = upstreamRequestHeaders(request.headers, {
      ip: peer,
      trusted: compiled.trustedProxy?.(peer) === true,
      proto: url.protocol.slice(0, -1),
      host: request.headers.get('host') ?? url.host,
      requestId: ctx.requestId,
      reserved: reservedHeaders,
      extra: ctx.upstreamHeaders,
    });
    let result: Awaited<ReturnType<typeof upstream.send>>;
    try {
      result = await upstream.send({
        method: forward?.method ?? request.method,
        pathAndQuery: route.rewrite(url.pathname, params) + search,
        headers,
        body: body as ReadableStream<Uint8Array> | ArrayBuffer | null,
        timeoutMs: route.config.timeout,
        idempotent,
        signal: bodyAbort?.signal,
      });
    } catch (err) {
      throw bodyFault?.() ?? err;
    }
    c.set('target', result.target);
    const up = result.response;
    const response = new Response(up.body, {
      status: up.status,
      statusText: up.statusText,
      headers: clientResponseHeaders(up.headers, ctx.requestId, ctx.responseHeaders),
    });
    if (route.config.login !== undefined && sessions !== undefined) return sessions.completeLogin(ctx, route.index, response);
    return response;
  }

  function buildApp(): Hono<Env> {
    // Hono's default RegExpRouter matches with one regex holding a capture group per route, so its cost
    // grows with the table (0.2 µs at 10 routes, 12 µs at 1,000); the TrieRouter's stays near 1.5 µs.
    const app = compiled.routes.length > TRIE_ROUTER_FROM ? new Hono<Env>({ router: new TrieRouter() }) : new Hono<Env>();
    const accessLogTo = config.server.accessLog ? deps.accessLog : undefined;
    function identify(c: Context<Env>): void {
      c.set('requestId', requestIdFor(c.req.raw));
      const peer = deps.clientIp?.(c.req.raw, c.env) ?? '';
      c.set('peer', peer);
      c.set('ip', clientIp(c.req.raw, peer));
    }
    // Without an access log the first middleware only identifies the request: no async frame around the rest.
    if (accessLogTo === undefined) {
      app.use('*', function identified(c, next) {
        identify(c);
        return next();
      });
    } else
      app.use('*', async function accessLog(c, next) {
        const started = now();
        identify(c);
        await next();
        const route = c.get('route');
        accessLogTo({
          time: new Date(started).toISOString(),
          method: c.req.method,
          path: c.req.path,
          route: route?.name ?? null,
          status: c.res.status,
          upstream: c.get('target') ?? null,
          duration_ms: now() - started,
          request_id: c.get('requestId'),
          ip: c.get('ip'),
        });
      });

    if (compiled.ipAllowed !== undefined) {
      const allowed = compiled.ipAllowed;
      app.use('*', async function ipRules(c, next) {
        if (!allowed(c.get('ip'))) throw new GatewayError('forbidden');
        await next();
      });
    }

    if (config.envelope !== undefined) {
      app.use(
        '*',
        envelope({
          config: config.envelope,
          routes: compiled.routes,
          bodyLimit: config.server.bodyLimit,
          alwaysOk: config.server.errorStatus === 'always-200',
          dispatch: (c, route, inner) => handle(c as Context<Env>, route, inner),
        }),
      );
    }

    // Gateway-served routes (JWKS, admin revoke) come before the configured ones.
    sessions?.mount(app);

    // Routes sharing a path are one Hono route; the method is chosen here so that a known path with
    // another method is a 405 with Allow, not a 404.
    const byPath = new Map<string, Map<string, CompiledRoute>>();
    for (const route of compiled.routes) {
      let methods = byPath.get(route.config.path);
      if (methods === undefined) {
        methods = new Map();
        byPath.set(route.config.path, methods);
      }
      for (const m of route.methods) if (!methods.has(m)) methods.set(m, route);
      if (route.methods.has('GET') && !methods.has('HEAD')) methods.set('HEAD', route);
    }
    for (const [path, methods] of byPath) {
      const allow = [...methods.keys()];
      app.all(path, async function route(c, next) {
        const route = methods.get(c.req.method);
        if (route === undefined) {
          c.set('allow', [...new Set([...(c.get('allow') ?? []), ...allow])]);
          return next();
        }
        return handle(c, route);
      });
    }

    app.notFound((c) => {
      const allow = c.get('allow');
      if (allow !== undefined)
        return withStatus(errorResponse(new GatewayError('methodNotAllowed', undefined, { allow: allow.join(', ') })));
      return withStatus(errorResponse(new GatewayError('unknownService')));
    });

    app.onError((err, c) => {
      if (err instanceof GatewayError) {
        return withStatus(problemFor({ request: c.req.raw }, err) ?? errorResponse(err, { 'x-request-id': c.get('requestId') ?? '' }));
      }
      logError(`unhandled error on ${c.req.method} ${c.req.path}`, err);
      return withStatus(errorResponse(new GatewayError('internal')));
    });
    return app;
  }

  // Key import is async, so the app is built once it is done; requests that arrive earlier wait.
  let app: Hono<Env> | undefined;
  const building = (async () => {
    if (needsSessions) {
      sessions = await createSessions(config.session, config.routes, {
        store,
        now,
        fetch: upstreamFetch,
        log: (message, fields) => logError(`session: ${message}`, fields),
      });
      reservedHeaders = sessions.identityHeaderNames;
    }
    tokenSessions = await createTokenSessions(config.tokenSessions, config.routes, {
      store,
      now,
      log: (message, fields) => logError(`token session: ${message}`, fields),
    });
    if (tokenSessions !== undefined) reservedHeaders = [...reservedHeaders, ...tokenSessions.identityHeaderNames];
    app = buildApp();
    return app;
  })();
  const ready = building.then(() => undefined);
  // A failed start-up surfaces through `ready` and each request; never as an unhandled rejection.
  ready.catch(() => {});

  return {
    config,
    store,
    ready,
    sessions: async () => {
      await ready;
      return sessions;
    },
    async fetch(request, env, executionCtx) {
      let a = app;
      if (a === undefined) {
        try {
          a = await building;
        } catch {
          return errorResponse(new GatewayError('internal', { reason: 'the gateway failed to start; see its log' }));
        }
      }
      return a.fetch(request, env, executionCtx as never);
    },
    async close() {
      await store.close();
    },
  };
}
