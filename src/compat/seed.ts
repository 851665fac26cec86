// The original gateway's files (system-config.json, api-rules.json, the PEM pair, optional regex.json)
// validated in THEIR shape and translated to one native config. File reading lives in the adapters;
// this module takes the parsed documents and the PEM text, so it runs on every runtime.
import * as z from 'zod';
import { ConfigError, formatIssues, formatPath } from '../config/load.ts';
import type { ConfigInput } from '../config/schema.ts';
import { builtinPatterns, checkNamedPatterns, compilePattern } from '../rules/patterns.ts';
import { TOKEN_SESSION_ALGORITHMS } from '../session/schema.ts';
import { privateKeyToPkcs8, publicKeyToSpki } from './pem.ts';

/** The files of a seed config directory, as the adapter read them. */
export interface SeedFiles {
  /** system-config.json, parsed. */
  systemConfig: unknown;
  /** api-rules.json, parsed. */
  apiRules: unknown;
  /** regex.json, parsed, when the directory has one: `{ "name": "source" }`. */
  regex?: unknown;
  /** private.pem, when present. */
  privateKey?: string;
  /** public.pem, when present. */
  publicKey?: string;
}

export interface SeedOptions {
  /** `--seed-status=200`: every reply 200, as the original answered. */
  errorStatus?: 'semantic' | 'always-200';
}

export interface SeedTranslation {
  /** The equivalent native config, as a document (what `check --seed-config` prints). */
  config: ConfigInput;
  /** Things that work but deserve a look (fields ignored, services without endpoints). */
  warnings: string[];
  /** Rewrites a native problem line (`routes[1].rewrite: ...`) to the seed file and field it came from. */
  locate(problem: string): string;
}

export const SEED_FILES = {
  system: 'system-config.json',
  rules: 'api-rules.json',
  regex: 'regex.json',
  privateKey: 'private.pem',
  publicKey: 'public.pem',
} as const;

// --- the seed files' shape --------------------------------------------------------------------------

/** An integer written as a number or, as the original's files do ("60000"), a string of digits. */
function intLike(message: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return z.union([z.number(), z.string()], { error: message }).transform((v, ctx) => {
    const n = typeof v === 'number' ? v : /^\s*\d+\s*$/.test(v) ? Number(v) : Number.NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    }
    return n;
  });
}

const port = intLike('expected a port number', 1, 65_535);
const hostname = z
  .string({ error: 'expected a host name such as "localhost" or "10.0.0.5"' })
  .regex(/^(\[?[A-Za-z0-9:.]+\]?|[A-Za-z0-9_.-]+)$/, { error: 'expected a host name such as "localhost" or "10.0.0.5"' });

const redisBlock = z
  .object(
    {
      host: hostname,
      port,
      /** The password; "" means none. */
      auth: z.string({ error: 'expected a password string ("" for none)' }).optional(),
      db: intLike('expected a database number', 0).optional(),
      /** ioredis's pool size in the original; edgegate pipelines every request over one connection, so it is not used. */
      max_clients: intLike('expected a positive number', 1).optional(),
      tls: z.boolean({ error: 'expected true or false' }).optional(),
    },
    { error: 'expected the Redis settings { "host", "port", "auth", "db", "tls" }' },
  )
  .strict();

const endpoint = z
  .object({
    hostname,
    port,
    weight: intLike('expected a positive weight', 1),
  })
  .strict();

const serviceEndpoints = z
  .object(
    { timeout: intLike('expected milliseconds such as 5000', 1).optional() },
    { error: 'expected the services\' endpoints { "timeout", "<service>": [{ "hostname", "port", "weight" }] }' },
  )
  .catchall(z.array(endpoint, { error: 'expected a list of { "hostname", "port", "weight" }' }));

const systemConfigSchema = z
  .object({
    redis: redisBlock,
    rate_limit: z
      .object({
        interval_ms: intLike('expected milliseconds such as "60000"', 1),
        max_requests: intLike('expected a number of requests such as "120"', 1),
      })
      .strict()
      .optional(),
    service_endpoints: serviceEndpoints,
    session: z
      .object({
        algorithm: z.enum(TOKEN_SESSION_ALGORITHMS, {
          error: `expected an asymmetric algorithm (${TOKEN_SESSION_ALGORITHMS.join(', ')}); HMAC secrets are not supported`,
        }),
        expire: intLike('expected seconds such as 180', 1),
      })
      .strict()
      .optional(),
  })
  .strict();

const parameterRule = z
  .object({
    mandatory: z.boolean({ error: 'expected true or false' }).optional(),
    can_empty: z.boolean({ error: 'expected true or false' }).optional(),
    max_length: intLike('expected a length such as 100', 0).optional(),
    numeric: z.boolean({ error: 'expected true or false' }).optional(),
    regex: z.string({ error: 'expected a pattern name such as "email"' }).optional(),
  })
  .strict();

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

const ruleSchema = z
  .object({
    url: z
      .string({ error: 'expected a path such as "/account/login"' })
      .regex(/^\/[A-Za-z0-9\-._~!$&'()*+,;=@%/]*$/, { error: 'expected a path such as "/account/login"' }),
    credential: z.boolean({ error: 'expected true or false' }).optional(),
    method: z
      .string({ error: 'expected "GET" or "POST"' })
      .transform((m) => m.toUpperCase())
      .pipe(z.enum(METHODS, { error: 'expected "GET" or "POST" (or PUT, PATCH, DELETE)' })),
    content_type: z.string({ error: 'expected a content type such as "application/json"' }).optional(),
    parameters: z.record(z.string(), parameterRule, { error: 'expected an object of field rules' }).optional(),
  })
  .strict();

const apiRulesSchema = z.record(z.string(), z.record(z.string(), ruleSchema, { error: 'expected an object of events' }), {
  error: 'expected an object of services',
});

const regexSchema = z.record(z.string(), z.string({ error: 'expected a pattern such as "^[A-Z]{3}$"' }), {
  error: 'expected an object of named patterns',
});

type SystemConfig = z.infer<typeof systemConfigSchema>;
type ApiRules = z.infer<typeof apiRulesSchema>;

/** Service and event names become route path segments and upstream names. */
const NAME = /^[A-Za-z0-9_.-]+$/;

/**
 * Parses a seed file. Unknown fields are warnings, not problems: the original ignored them, and a
 * drop-in must not refuse a file the original ran with. Every other problem is named with its path.
 */
function parseSeed<T>(schema: z.ZodType<T>, doc: unknown, file: string, problems: string[], warnings: string[]): T | undefined {
  let input = doc;
  for (let pass = 0; pass < 2; pass++) {
    const result = schema.safeParse(input);
    if (result.success) return result.data;
    const unknown = result.error.issues.filter((i) => i.code === 'unrecognized_keys');
    const other = result.error.issues.filter((i) => i.code !== 'unrecognized_keys');
    if (other.length > 0 || unknown.length === 0) {
      for (const line of formatIssues(other, doc)) problems.push(`${file}: ${line}`);
      return undefined;
    }
    input = structuredClone(input);
    for (const issue of unknown) {
      if (issue.code !== 'unrecognized_keys') continue;
      let at = input as Record<PropertyKey, unknown>;
      for (const k of issue.path) at = at[k as string] as Record<PropertyKey, unknown>;
      for (const key of issue.keys) {
        warnings.push(`${file}: ${formatPath([...issue.path, key])}: unknown field, ignored`);
        delete at[key];
      }
    }
  }
  return undefined;
}

// --- translation ------------------------------------------------------------------------------------

function targetUrl(host: string, portNumber: number): string {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `http://${h}:${portNumber}`;
}

const JSON_TYPE = /^application\/([a-z0-9.+-]*\+)?json\s*(;|$)/i;

/**
 * Validates the seed files and translates them to one native config. Throws ConfigError naming every
 * problem with its file and path, e.g. `system-config.json: service_endpoints.user[1].port: expected a
 * port number, received "abc"`.
 */
export function translateSeed(files: SeedFiles, options: SeedOptions = {}): SeedTranslation {
  const problems: string[] = [];
  const warnings: string[] = [];
  const system = parseSeed(systemConfigSchema, files.systemConfig, SEED_FILES.system, problems, warnings) as SystemConfig | undefined;
  const rules = parseSeed(apiRulesSchema, files.apiRules, SEED_FILES.rules, problems, warnings) as ApiRules | undefined;
  const regex =
    files.regex === undefined
      ? {}
      : ((parseSeed(regexSchema, files.regex, SEED_FILES.regex, problems, warnings) as Record<string, string>) ?? {});

  // Named patterns: a copy of a built-in under its own name is the built-in (which is trusted; a copy
  // would be put through the backtracking check, which the original's email pattern does not pass).
  const patterns: Record<string, string> = {};
  for (const [name, source] of Object.entries(regex)) {
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(name)) {
      problems.push(`${SEED_FILES.regex}: ${name}: expected a pattern name of letters, digits, "_" or "-"`);
      continue;
    }
    const plain = source.startsWith('/') && source.lastIndexOf('/') === source.length - 1 ? source.slice(1, -1) : source;
    if (Object.hasOwn(builtinPatterns, name) && builtinPatterns[name] === plain) continue;
    patterns[name] = source;
  }
  for (const p of checkNamedPatterns(patterns)) problems.push(`${SEED_FILES.regex}: ${p.path}: ${p.message}`);

  const sources = new Map<string, string>();
  const routes: Record<string, unknown>[] = [];
  const upstreams: Record<string, unknown> = {};
  let needsSessions = false;

  if (system !== undefined) {
    const { timeout, ...services } = system.service_endpoints;
    for (const [service, list] of Object.entries(services) as [string, z.infer<typeof endpoint>[]][]) {
      if (!NAME.test(service)) {
        problems.push(`${SEED_FILES.system}: service_endpoints.${service}: expected a service name of letters, digits, "_", "." or "-"`);
        continue;
      }
      if (list.length === 0) continue;
      upstreams[service] = {
        balancer: 'weighted-random',
        timeout: timeout ?? 5_000,
        // The original sent each request once.
        retries: 0,
        targets: list.map((e) => ({ url: targetUrl(e.hostname, e.port), weight: e.weight })),
      };
      sources.set(`upstreams.${service}`, `${SEED_FILES.system}: service_endpoints.${service}`);
    }
  }

  if (rules !== undefined) {
    for (const [service, events] of Object.entries(rules)) {
      if (!NAME.test(service)) {
        problems.push(`${SEED_FILES.rules}: ${service}: expected a service name of letters, digits, "_", "." or "-"`);
        continue;
      }
      if (system !== undefined && upstreams[service] === undefined) {
        warnings.push(
          `${SEED_FILES.rules}: ${service}: service_endpoints has no endpoint for it; its events answer 10008 "No service endpoint"`,
        );
      }
      for (const [event, rule] of Object.entries(events)) {
        const at = `${SEED_FILES.rules}: ${service}.${event}`;
        if (!NAME.test(event)) {
          problems.push(`${at}: expected an event name of letters, digits, "_", "." or "-"`);
          continue;
        }
        const body: Record<string, Record<string, unknown>> = {};
        for (const [field, p] of Object.entries(rule.parameters ?? {})) {
          const out: Record<string, unknown> = {};
          if (p.mandatory !== undefined) out.mandatory = p.mandatory;
          if (p.can_empty !== undefined) out.can_empty = p.can_empty;
          if (p.max_length !== undefined) out.max_length = p.max_length;
          if (p.numeric !== undefined) out.numeric = p.numeric;
          if (p.regex !== undefined && p.regex !== '') {
            const compiled = compilePattern(p.regex, patterns);
            if (typeof compiled === 'string') problems.push(`${at}.parameters.${field}.regex: ${compiled}`);
            out.regex = p.regex;
          }
          body[field] = out;
        }
        if (rule.method !== 'GET' && rule.content_type !== undefined && !JSON_TYPE.test(rule.content_type)) {
          warnings.push(
            `${at}.content_type: ${JSON.stringify(rule.content_type)} is not JSON; the body is sent as JSON, as the original sent it`,
          );
        }
        const credential = rule.credential === true;
        if (credential) needsSessions = true;
        const index = routes.length;
        sources.set(`routes[${index}].params.body`, `${at}.parameters`);
        sources.set(`routes[${index}].rewrite`, `${at}.url`);
        sources.set(`routes[${index}].auth`, `${at}.credential`);
        sources.set(`routes[${index}]`, at);
        routes.push({
          name: `${service}.${event}`,
          method: 'POST',
          path: `/${service}/${event}`,
          ...(upstreams[service] !== undefined ? { upstream: service } : {}),
          rewrite: rule.url,
          ...(rule.method === 'GET'
            ? { forward: { method: 'GET', bodyAsQuery: true } }
            : rule.method !== 'POST'
              ? { forward: { method: rule.method } }
              : {}),
          // An empty parameter set accepts anything, as the original did; otherwise a field without a rule is refused.
          ...(Object.keys(body).length > 0 ? { params: { body, unknown: 'reject' } } : {}),
          auth: credential ? 'token' : 'public',
        });
      }
    }
    if (routes.length === 0 && problems.length === 0) problems.push(`${SEED_FILES.rules}: expected at least one service with one event`);
  }

  let tokenSessions: Record<string, unknown> | undefined;
  if (needsSessions) {
    if (system !== undefined && system.session === undefined) {
      problems.push(
        `${SEED_FILES.system}: session: expected { "algorithm", "expire" }, which rules with "credential": true need (missing)`,
      );
    }
    if (files.privateKey === undefined)
      problems.push(`${SEED_FILES.privateKey}: expected the private key, which rules with "credential": true need (missing)`);
    if (files.publicKey === undefined)
      problems.push(`${SEED_FILES.publicKey}: expected the public key, which rules with "credential": true need (missing)`);
  }
  if (system !== undefined) {
    const session = system.session;
    const haveKeys = files.privateKey !== undefined && files.publicKey !== undefined;
    if (session !== undefined && haveKeys) {
      tokenSessions = {
        header: 'token',
        keyPrefix: 'token-',
        algorithm: session.algorithm,
        ttl: `${session.expire}s`,
        userClaim: 'user_id',
        userHeader: 'user_id',
        privateKey: privateKeyToPkcs8(files.privateKey as string),
        publicKey: publicKeyToSpki(files.publicKey as string),
      };
      sources.set('tokenSessions.privateKey', SEED_FILES.privateKey);
      sources.set('tokenSessions.publicKey', SEED_FILES.publicKey);
      sources.set('tokenSessions', `${SEED_FILES.system}: session`);
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);
  const sys = system as SystemConfig;
  sources.set('store', `${SEED_FILES.system}: redis`);
  sources.set('limits', `${SEED_FILES.system}: rate_limit`);
  for (const name of Object.keys(patterns)) sources.set(`patterns.${name}`, `${SEED_FILES.regex}: ${name}`);

  const config: ConfigInput = {
    server: { bodyLimit: '1mb', errorStatus: options.errorStatus ?? 'semantic' },
    store: {
      type: 'redis',
      host: sys.redis.host,
      port: sys.redis.port,
      ...(sys.redis.auth !== undefined && sys.redis.auth !== '' ? { auth: sys.redis.auth } : {}),
      db: sys.redis.db ?? 0,
      tls: sys.redis.tls ?? false,
    },
    envelope: { path: '/', exclusive: true },
    ...(tokenSessions !== undefined ? { tokenSessions } : {}),
    upstreams,
    ...(Object.keys(patterns).length > 0 ? { patterns } : {}),
    ...(sys.rate_limit !== undefined
      ? {
          limits: {
            // The round trip that carries the limit also carries the session lookup, which fails closed at
            // this deadline: 250 ms rather than the native 50 ms, so a busy Redis slows requests instead of
            // refusing sessions (the original waited for Redis without any bound).
            failure: { budget: '250ms' },
            // One quota per client across every service and event, as the original's single middleware kept.
            default: [
              {
                name: 'seed',
                algorithm: 'sliding-window',
                limit: sys.rate_limit.max_requests,
                window: sys.rate_limit.interval_ms,
                key: [{ header: 'token' }, 'ip'],
              },
            ],
          },
        }
      : {}),
    routes,
  } as ConfigInput;

  return { config, warnings, locate: (problem) => locate(problem, sources) };
}

/** `routes[1].params.body.email.regex: msg` → `api-rules.json: user.login.parameters.email.regex: msg`. */
function locate(problem: string, sources: ReadonlyMap<string, string>): string {
  const colon = problem.indexOf(': ');
  if (colon < 0) return problem;
  const path = problem.slice(0, colon);
  // The longest known prefix wins; what follows it is kept (`.email.regex`).
  let best: string | undefined;
  for (const key of sources.keys()) {
    if ((path === key || path.startsWith(`${key}.`) || path.startsWith(`${key}[`)) && (best === undefined || key.length > best.length))
      best = key;
  }
  if (best === undefined) return problem;
  const rest = path.slice(best.length);
  const where = sources.get(best) as string;
  // A PEM file has no fields: name the file alone.
  const shown = where.endsWith('.pem') ? where : `${where}${rest}`;
  return `${shown}: ${problem.slice(colon + 2)}`;
}
