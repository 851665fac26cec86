// createLimiter: compiles every route's rate limits once, then gives each request one StoreStep for all of them.

import { ConfigError } from '../config/load.ts';
import type { RequestContext, StoreStep } from '../context.ts';
import { GatewayError, StoreError } from '../errors.ts';
import type { Command } from '../store/store.ts';
import { ALGORITHM_CODES } from './algorithms.ts';
import { type Breaker, createBreaker } from './breaker.ts';
import { createDenyCache, type DenyCache } from './deny-cache.ts';
import { limitItem, policyItem, recordViolated, seconds, sfString } from './headers.ts';
import { type KeySpec, type Limit, type LimitsConfig, limitsSchema } from './schema.ts';
import { limitsScript, REPLY_HEAD, REPLY_PER_LIMIT } from './script.ts';

/** What the limiter needs of a route (a subset of RouteConfig, so tests can pass plain objects). */
export interface LimiterRoute {
  readonly name?: string;
  readonly method: string | readonly string[];
  readonly path: string;
  readonly limits?: readonly Limit[];
}

export interface LimiterConfig {
  readonly limits?: LimitsConfig;
  readonly routes: readonly LimiterRoute[];
}

export type LimiterEvent =
  | { type: 'fail-open'; route: string; reason: StoreError['reason'] }
  | { type: 'fail-closed'; route: string; reason: StoreError['reason'] | 'breaker' }
  | { type: 'breaker-open'; cooldownMs: number }
  | { type: 'breaker-closed' };

export interface LimiterDeps {
  /** Local clock, ms: drives the deny cache and the breaker (the limits themselves use the store's clock). */
  readonly now: () => number;
  /** Failures an operator should see; never carries keys or identities. */
  readonly log?: (event: LimiterEvent) => void;
  /** Deny-cache bound (identities); default 10 000. */
  readonly denyCacheSize?: number;
}

export interface LimiterStats {
  allowed: number;
  denied: number;
  /** Denied from the local deny cache, without a store call. */
  deniedLocally: number;
  /** Let through because the store failed or the breaker was open (fail open). */
  failedOpen: number;
  /** Refused with 503 because the store failed or the breaker was open (fail closed). */
  failedClosed: number;
  breakerTrips: number;
}

export interface RouteLimiter {
  /** The route name used in keys and logs. */
  readonly name: string;
  /** The store budget for this step, ms: the gateway's deadline for the batch that carries it. */
  readonly budgetMs: number;
  /**
   * Builds the request's step: ONE eval of every limit that has a key in this request.
   * Throws GatewayError('overRateLimit') without a store call when the deny cache knows the answer,
   * and GatewayError('storeUnavailable') when the breaker is open and a limit fails closed.
   * When the breaker is open and every limit fails open, the step has no commands.
   */
  step(ctx: RequestContext): StoreStep;
}

export interface Limiter {
  forRoute(routeIndex: number): RouteLimiter | undefined;
  /** True while the breaker skips the store. */
  breakerOpen(): boolean;
  readonly budgetMs: number;
  readonly stats: Readonly<LimiterStats>;
}

/** One key source, compiled: the key prefix (limit prefix + kind) and how to read its value. */
interface KeySource {
  readonly prefix: string;
  readonly read: (ctx: RequestContext) => string | undefined | null;
}

interface CompiledLimit {
  readonly name: string;
  readonly quotedName: string;
  readonly policy: string;
  readonly sources: readonly KeySource[];
  /** algorithm code, limit, window ms, burst, cost */
  readonly args: readonly string[];
  readonly closed: boolean;
}

const NOOP: StoreStep = { commands: [], apply() {}, fail() {} };

function formatWindow(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
  ] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

function keySources(spec: KeySpec | readonly KeySpec[], limitPrefix: string): KeySource[] {
  const specs = (Array.isArray(spec) ? spec : [spec]) as readonly KeySpec[];
  return specs.map((s): KeySource => {
    if (s === 'ip') return { prefix: `${limitPrefix}ip:`, read: (ctx) => ctx.ip || undefined };
    if (s === 'user') return { prefix: `${limitPrefix}u:`, read: (ctx) => ctx.identity?.sub || undefined };
    if (s === 'global') return { prefix: `${limitPrefix}g`, read: () => '' };
    if ('header' in s) {
      const name = s.header.toLowerCase();
      return { prefix: `${limitPrefix}h:${name}:`, read: (ctx) => ctx.request.headers.get(name) || undefined };
    }
    const param = s.param;
    return { prefix: `${limitPrefix}p:${param}:`, read: (ctx) => ctx.params[param] || undefined };
  });
}

export function createLimiter(config: LimiterConfig, deps: LimiterDeps): Limiter {
  const settings = config.limits ?? limitsSchema.parse({});
  const { now, log } = deps;
  const stats: LimiterStats = { allowed: 0, denied: 0, deniedLocally: 0, failedOpen: 0, failedClosed: 0, breakerTrips: 0 };
  const breaker: Breaker = createBreaker({ failures: settings.failure.breaker.failures, cooldownMs: settings.failure.breaker.cooldown });
  const denyCache: DenyCache | undefined = settings.denyCache ? createDenyCache(deps.denyCacheSize ?? 10_000) : undefined;
  const budgetMs = settings.failure.budget;
  const problems: string[] = [];

  function compileLimits(limits: readonly Limit[], scope: string, path: string, routePath?: string): CompiledLimit[] {
    const used = new Set<string>();
    return limits.map((l, i) => {
      let name = l.name ?? `${l.limit}-per-${formatWindow(l.window)}`;
      if (used.has(name)) {
        if (l.name !== undefined)
          problems.push(`${path}[${i}].name: expected a name unique within the route, received ${JSON.stringify(l.name)}`);
        let n = 2;
        while (used.has(`${name}-${n}`)) n++;
        name = `${name}-${n}`;
      }
      used.add(name);
      if (routePath !== undefined) {
        const specs = (Array.isArray(l.key) ? l.key : [l.key]) as readonly KeySpec[];
        for (const s of specs) {
          if (typeof s === 'object' && 'param' in s && !routePath.includes(`:${s.param}`)) {
            problems.push(`${path}[${i}].key: uses param "${s.param}", which the route path ${routePath} does not define`);
          }
        }
      }
      const code = ALGORITHM_CODES[l.algorithm];
      const burst = l.burst ?? l.limit;
      // The algorithm code is part of the key, so changing a limit's algorithm never misreads old state.
      const prefix = `rl:${scope}:${i}${code}:`;
      return {
        name,
        quotedName: sfString(name),
        policy: policyItem(name, l.limit, l.window),
        sources: keySources(l.key, prefix),
        args: [String(code), String(l.limit), String(l.window), String(burst), String(l.cost)],
        closed: (l.failure ?? settings.failure.policy) === 'closed',
      };
    });
  }

  // Default limits are shared by every route that uses them: one quota per identity across those routes.
  const defaults = settings.default === undefined ? [] : compileLimits(settings.default, '*', 'limits.default');

  const routes = config.routes.map((route, index) => {
    const methods = typeof route.method === 'string' ? [route.method] : route.method;
    const name = route.name ?? `${methods.join(',')} ${route.path}`;
    const limits = route.limits === undefined ? defaults : compileLimits(route.limits, name, `routes[${index}].limits`, route.path);
    return limits.length === 0 ? undefined : routeLimiter(name, limits);
  });

  if (problems.length > 0) throw new ConfigError(problems);

  function routeLimiter(routeName: string, limits: readonly CompiledLimit[]): RouteLimiter {
    const n = limits.length;
    // Precomputed for the usual case, where every limit has a key.
    const allArgs = [''].concat(...limits.map((l) => l.args));
    const allPolicy = limits.map((l) => l.policy).join(', ');
    const anyClosed = limits.some((l) => l.closed);

    function denied(retryAfterMs: number, names: readonly string[], policy: string, fields: string): GatewayError {
      const headers: Record<string, string> = {};
      if (retryAfterMs >= 0) headers['retry-after'] = String(Math.max(1, seconds(retryAfterMs)));
      if (settings.headers) {
        headers['ratelimit-policy'] = policy;
        headers.ratelimit = fields;
      }
      return recordViolated(new GatewayError('overRateLimit', undefined, headers), names);
    }

    function storeDown(reason: StoreError['reason'] | 'breaker', closed: boolean): void {
      if (closed) {
        stats.failedClosed++;
        log?.({ type: 'fail-closed', route: routeName, reason });
        throw new GatewayError('storeUnavailable');
      }
      stats.failedOpen++;
      if (reason !== 'breaker') log?.({ type: 'fail-open', route: routeName, reason });
    }

    return {
      name: routeName,
      budgetMs,
      step(ctx) {
        const t = now();
        // Resolve each limit's key; a limit whose keys are all absent does not apply to this request.
        let keys: string[] | undefined;
        let active: CompiledLimit[] | undefined; // undefined: all of them
        for (let i = 0; i < n; i++) {
          const limit = limits[i];
          let key: string | undefined;
          for (const src of limit.sources) {
            const v = src.read(ctx);
            if (v !== undefined && v !== null) {
              key = src.prefix + v;
              break;
            }
          }
          if (key === undefined) {
            active ??= limits.slice(0, i);
            continue;
          }
          if (denyCache !== undefined) {
            const hit = denyCache.get(key, t);
            if (hit !== undefined) {
              stats.deniedLocally++;
              throw denied(
                hit.until - t,
                [limit.name],
                limit.policy,
                limitItem(limit.quotedName, hit.remaining, Math.max(0, hit.resetAt - t)),
              );
            }
          }
          if (keys === undefined) keys = [key];
          else keys.push(key);
          active?.push(limit);
        }
        if (keys === undefined) return NOOP;
        const used = active ?? limits;
        const closed = active === undefined ? anyClosed : used.some((l) => l.closed);

        if (!breaker.allow(t)) {
          storeDown('breaker', closed);
          return NOOP;
        }

        const args = active === undefined ? allArgs : [''].concat(...used.map((l) => l.args));
        const storeKeys = keys;
        const commands: Command[] = [{ op: 'eval', script: limitsScript, keys: storeKeys, args }];
        const fail = (error: StoreError): void => {
          if (breaker.failure(now())) {
            stats.breakerTrips++;
            log?.({ type: 'breaker-open', cooldownMs: settings.failure.breaker.cooldown });
          }
          storeDown(error.reason, closed);
        };
        return {
          commands,
          apply(results) {
            const reply = results[0];
            if (!Array.isArray(reply) || reply.length !== REPLY_HEAD + used.length * REPLY_PER_LIMIT) {
              // A store that answers nonsense is a failing store.
              fail(new StoreError('error', 'unexpected rate-limit reply'));
              return;
            }
            if (breaker.success()) log?.({ type: 'breaker-closed' });
            const r = reply as number[];
            let fields = '';
            let policy = '';
            if (settings.headers) {
              for (let i = 0; i < used.length; i++) {
                const k = REPLY_HEAD + i * REPLY_PER_LIMIT;
                if (i > 0) fields += ', ';
                fields += limitItem(used[i].quotedName, r[k + 1], r[k + 2]);
              }
              policy = active === undefined ? allPolicy : used.map((l) => l.policy).join(', ');
            }
            if (r[0] === 1) {
              stats.allowed++;
              if (settings.headers) {
                ctx.responseHeaders.set('ratelimit-policy', policy);
                ctx.responseHeaders.set('ratelimit', fields);
              }
              return;
            }
            stats.denied++;
            const names: string[] = [];
            for (let i = 0; i < used.length; i++) {
              const k = REPLY_HEAD + i * REPLY_PER_LIMIT;
              if (r[k] === 1) continue;
              names.push(used[i].name);
              // Later requests can only push this limit's admission time further out, never nearer,
              // so until then the answer is known without asking the store. Counted from the step's
              // time, before the round trip, so the local entry never outlasts the store's verdict.
              if (denyCache !== undefined && r[k + 3] > 0) {
                denyCache.set(storeKeys[i], { until: t + r[k + 3], resetAt: t + r[k + 2], remaining: r[k + 1] });
              }
            }
            throw denied(r[1], names, policy, fields);
          },
          fail,
        };
      },
    };
  }

  return {
    forRoute: (routeIndex) => routes[routeIndex],
    breakerOpen: () => breaker.isOpen(now()),
    budgetMs,
    stats,
  };
}
