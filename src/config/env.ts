// Runtime settings shared by the adapters: the config document, then the secrets that must not live
// in it (session private keys, admin token, Upstash credentials), from variables or the environment.

import { createGateway, type Gateway, type GatewayDeps } from '../gateway.ts';
import { createStore } from '../store/create.ts';
import { ConfigError, parseConfig } from './load.ts';

/** The variables an adapter reads; Worker bindings and `Deno.env.toObject()` both fit. */
export type RuntimeVars = Record<string, unknown>;

/** The variables, as `createStore` wants them: strings only (a Worker may also bind objects). */
export function stringVars(vars: RuntimeVars): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(vars)) if (typeof value === 'string') out[name] = value;
  return out;
}

/** Parses a JSON variable; a Worker var written as a TOML table arrives as an object already. */
function jsonVar(vars: RuntimeVars, name: string): unknown {
  const value = vars[name];
  if (value === undefined || value === '') return undefined;
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch (err) {
    // The message of JSON.parse names a position, never the value, so a secret cannot leak here.
    throw new ConfigError([`${name}: expected JSON (${(err as Error).message})`]);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The config document: `EDGEGATE_CONFIG` (a JSON string, or a table in wrangler.toml) when set,
 * else the one bundled with the build.
 */
export function configDocument(vars: RuntimeVars, bundled: unknown): unknown {
  const doc = jsonVar(vars, 'EDGEGATE_CONFIG') ?? bundled;
  if (doc === undefined) {
    throw new ConfigError([
      'EDGEGATE_CONFIG: expected the gateway config as JSON (a var or secret), or a config bundled with the build (missing)',
    ]);
  }
  return doc;
}

/**
 * Lays the secrets over the document, before validation, so every problem is reported with a path:
 * - `EDGEGATE_SESSION_KEYS`: a JSON array (or one object) of `session.keys` entries. An entry whose
 *   `kid` is already in the config is merged into it (the config keeps `alg` and `active`, the secret
 *   brings `privateKey`); others are appended.
 * - `EDGEGATE_ADMIN_TOKEN`: `session.admin.token`.
 * - `UPSTASH_REDIS_REST_URL` and `_TOKEN` both set, and no `store` in the config: the Upstash store
 *   (an isolate's memory is not shared, so a Worker with Upstash credentials wants them used).
 * The document passed in is not modified.
 */
export function withSecrets(doc: unknown, vars: RuntimeVars): unknown {
  if (!isObject(doc)) return doc;
  const out: Record<string, unknown> = { ...doc };

  const keys = jsonVar(vars, 'EDGEGATE_SESSION_KEYS');
  const adminToken = vars.EDGEGATE_ADMIN_TOKEN;
  if (keys !== undefined || (typeof adminToken === 'string' && adminToken !== '')) {
    const session: Record<string, unknown> = isObject(out.session) ? { ...out.session } : {};
    if (keys !== undefined) {
      const extra = Array.isArray(keys) ? keys : [keys];
      const merged: unknown[] = Array.isArray(session.keys) ? [...session.keys] : [];
      for (const entry of extra) {
        const at = isObject(entry) ? merged.findIndex((k) => isObject(k) && k.kid === entry.kid) : -1;
        if (at >= 0) merged[at] = { ...(merged[at] as object), ...(entry as object) };
        else merged.push(entry);
      }
      session.keys = merged;
    }
    if (typeof adminToken === 'string' && adminToken !== '')
      session.admin = { ...(isObject(session.admin) ? session.admin : {}), token: adminToken };
    out.session = session;
  }

  if (out.store === undefined && nonEmpty(vars.UPSTASH_REDIS_REST_URL) && nonEmpty(vars.UPSTASH_REDIS_REST_TOKEN)) {
    out.store = { type: 'upstash' };
  }
  return out;
}

function nonEmpty(value: unknown): boolean {
  return typeof value === 'string' && value.trim() !== '';
}

/**
 * Validates the document with its secrets and builds the gateway with a store from `createStore`
 * (memory or Upstash; the TCP Redis store needs the Node adapter). Throws ConfigError, never half-built.
 */
export async function buildGateway(doc: unknown, vars: RuntimeVars, deps: Omit<GatewayDeps, 'store'>): Promise<Gateway> {
  const config = parseConfig(withSecrets(doc, vars));
  const store = createStore(config.store, stringVars(vars), { fetch: (input, init) => fetch(input, init) });
  let gateway: Gateway;
  try {
    gateway = createGateway(config, { ...deps, store });
  } catch (err) {
    await store.close();
    throw err;
  }
  try {
    // Session keys are imported with Web Crypto; unusable ones reject `ready` with a ConfigError.
    await gateway.ready;
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return gateway;
}
