// Turns a validated config into the lookup structures the request path uses; nothing is parsed later.
import { GatewayError } from '../errors.ts';
import { compileIpList, compileIpRules } from '../rules/ip.ts';
import { compileParams } from '../rules/params.ts';
import { checkNamedPatterns } from '../rules/patterns.ts';
import { createUpstream, type Upstream, type UpstreamDeps } from '../upstream/proxy.ts';
import { ConfigError } from './load.ts';
import type { Config, RouteConfig } from './schema.ts';

export interface CompiledRoute {
  readonly index: number;
  readonly name: string;
  readonly config: RouteConfig;
  readonly methods: ReadonlySet<string>;
  readonly upstream?: Upstream;
  /** Builds the upstream path from the request path and params. */
  readonly rewrite: (pathname: string, params: Record<string, string>) => string;
  readonly checkParams?: ParamsChecker;
  readonly needsBody: boolean;
  readonly ipAllowed?: (ip: string) => boolean;
  readonly bodyLimit: number;
}

type ParamsChecker = Extract<ReturnType<typeof compileParams>, { check: unknown }>['check'];

export interface Compiled {
  readonly routes: CompiledRoute[];
  readonly upstreams: Map<string, Upstream>;
  readonly ipAllowed?: (ip: string) => boolean;
  readonly trustedProxy?: (ip: string) => boolean;
}

/**
 * True when an upstream that decodes %2e, %2f or %5c, takes `\` for `/`, or drops `;` path parameters
 * (nginx, IIS, Tomcat each do one of these) would find a `..` segment in `path` and climb out of the
 * route's prefix. URL parsing already removed the literal dot segments; this catches disguised ones.
 */
export function hidesDotSegment(path: string): boolean {
  if (!path.includes('%') && !path.includes('..') && !path.includes('\\')) return false;
  const plain = path.replace(/%2e/gi, '.').replace(/%2f|%5c|\\/gi, '/');
  return /(?:^|\/)\.\.(?:;[^/]*)?(?:\/|$)/.test(plain);
}

function refuseHidden(path: string): string {
  if (hidesDotSegment(path)) throw new GatewayError('malformedBody', { reason: 'the path hides a ".." segment' });
  return path;
}

/** `/users/:id` + rewrite `/account/:id` → a function that fills in the params (URL-encoded). */
function compileRewrite(route: RouteConfig): CompiledRoute['rewrite'] {
  const wildcard = route.path.endsWith('*');
  const prefixLength = wildcard ? route.path.length - 1 : 0;
  if (route.rewrite === undefined) return refuseHidden;
  const parts = route.rewrite.split(/(:[A-Za-z0-9_]+|\*)/).filter((p) => p !== '');
  return (pathname, params) => {
    let out = '';
    for (const part of parts) {
      if (part === '*') out += wildcard ? pathname.slice(prefixLength) : '';
      // Params are re-encoded so a decoded "../" or "/" cannot leave the rewrite's prefix.
      else if (part.startsWith(':')) out += encodeURIComponent(params[part.slice(1)] ?? '');
      else out += part;
    }
    return refuseHidden(out.replace(/\/{2,}/g, '/'));
  };
}

export function compile(config: Config, deps: UpstreamDeps): Compiled {
  const problems: string[] = [];
  const patterns = config.patterns ?? {};
  for (const p of checkNamedPatterns(patterns)) problems.push(`patterns.${p.path}: ${p.message}`);

  const upstreams = new Map<string, Upstream>();
  for (const [name, up] of Object.entries(config.upstreams)) upstreams.set(name, createUpstream(name, up, deps));

  const ipRules = (rules: Config['ipRules'], path: string) => {
    if (rules === undefined) return undefined;
    const compiled = compileIpRules(rules);
    if ('problems' in compiled) {
      for (const p of compiled.problems) problems.push(`${path}: ${p}`);
      return undefined;
    }
    return compiled.check;
  };

  const routes = config.routes.map((route, index): CompiledRoute => {
    if (route.rewrite !== undefined && hidesDotSegment(route.rewrite))
      problems.push(`routes[${index}].rewrite: expected a path without ".." segments`);
    const methods = new Set(Array.isArray(route.method) ? route.method : [route.method]);
    let checkParams: ParamsChecker | undefined;
    let needsBody = route.forward?.bodyAsQuery === true;
    if (route.params !== undefined) {
      const compiled = compileParams(route.params, patterns);
      if ('problems' in compiled) {
        for (const p of compiled.problems) problems.push(`routes[${index}].params.${p.path}: ${p.message}`);
      } else {
        checkParams = compiled.check;
        needsBody = route.params.body !== undefined || route.forward?.bodyAsQuery === true;
      }
    }
    return {
      index,
      name: route.name ?? `${[...methods].join(',')} ${route.path}`,
      config: route,
      methods,
      upstream: route.upstream === undefined ? undefined : upstreams.get(route.upstream),
      rewrite: compileRewrite(route),
      checkParams,
      needsBody,
      ipAllowed: ipRules(route.ipRules, `routes[${index}].ipRules`),
      bodyLimit: route.bodyLimit ?? config.server.bodyLimit,
    };
  });

  let trustedProxy: Compiled['trustedProxy'];
  if (config.server.trustProxy.length > 0) {
    const list = compileIpList(config.server.trustProxy);
    if ('problems' in list) problems.push(...list.problems.map((p) => `server.trustProxy: ${p}`));
    else trustedProxy = list.match;
  }

  const ipAllowed = ipRules(config.ipRules, 'ipRules');
  if (problems.length > 0) throw new ConfigError(problems);
  return { routes, upstreams, ipAllowed, trustedProxy };
}
