// The Cloudflare Workers adapter: `export default { fetch }`, the gateway built once per isolate from
// the bindings on the first request, client IP from CF-Connecting-IP.

import { buildGateway, configDocument, type RuntimeVars } from '../../src/config/env.ts';
import { ConfigError } from '../../src/config/load.ts';
import { errorResponse, GatewayError } from '../../src/errors.ts';
import type { Gateway } from '../../src/gateway.ts';
import { bundledConfig } from './config.ts';

/** What the Worker reads from its bindings (wrangler.toml [vars] and `wrangler secret put`). */
export interface WorkerEnv extends RuntimeVars {
  /** The config as JSON (or a TOML table); else the bundled one (config.ts). */
  EDGEGATE_CONFIG?: string | object;
  /** Secret: JSON array of session.keys entries with their private keys, merged by kid. */
  EDGEGATE_SESSION_KEYS?: string;
  /** Secret: session.admin.token. */
  EDGEGATE_ADMIN_TOKEN?: string;
  /** Secrets: the Upstash store; with no `store` in the config, their presence selects it. */
  UPSTASH_REDIS_REST_URL?: string;
  UPSTASH_REDIS_REST_TOKEN?: string;
}

/** The slice of the Workers ExecutionContext we pass on (declared here, no @cloudflare/workers-types). */
export interface WorkerContext {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
}

type Built = { gateway: Gateway } | { failure: GatewayError };

/** One per isolate. A rejected build is not kept, so a transient failure is retried by the next request. */
let built: Promise<Built> | undefined;

const log = (level: string, message: string, extra?: Record<string, unknown>) =>
  console.error(JSON.stringify({ level, message, ...extra }));

async function build(env: WorkerEnv): Promise<Built> {
  try {
    const gateway = await buildGateway(configDocument(env, bundledConfig), env, {
      // Called through a wrapper: workerd refuses a `fetch` invoked with another object as `this`.
      fetch: (input, init) => fetch(input, init),
      clientIp: (request) => request.headers.get('cf-connecting-ip') ?? undefined,
      accessLog: (entry) => console.log(JSON.stringify(entry)),
      logError: (message, error) => log('error', message, { error: String(error) }),
    });
    return { gateway };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Kept for the isolate's life: the bindings cannot change under it. The problems go to the log
    // only; they may quote config values, which clients have no business seeing.
    log('error', 'edgegate: invalid config, answering every request with 500', { problems: err.problems });
    return { failure: new GatewayError('internal', { error: 'invalid gateway config; see the Worker logs' }) };
  }
}

export default {
  async fetch(request: Request, env: WorkerEnv, ctx: WorkerContext): Promise<Response> {
    built ??= build(env);
    let state: Built;
    try {
      state = await built;
    } catch (err) {
      built = undefined;
      log('error', 'edgegate: building the gateway failed', { error: String(err) });
      return errorResponse(new GatewayError('internal'));
    }
    // A fresh Response each time: workerd ties a body to the request that created it.
    if ('failure' in state) return errorResponse(state.failure);
    return state.gateway.fetch(request, env, ctx);
  },
};
