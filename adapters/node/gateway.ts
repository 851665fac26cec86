// Builds a gateway with Node's runtime services: the pooled upstream client, the socket's peer
// address, Redis over TCP when the config asks for it, and the access log on stdout.
import { withSecrets } from '../../src/config/env.ts';
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { createGateway, type Gateway, type GatewayDeps } from '../../src/gateway.ts';
import { createStore } from '../../src/store/create.ts';
import type { Store } from '../../src/store/store.ts';
import { redisStoreFromConfig } from './redis-store.ts';
import { nodeClientIp } from './serve.ts';
import { upstreamFetch } from './upstream-fetch.ts';

export interface NodeGatewayOptions {
  accessLog?: boolean;
  env?: Record<string, string | undefined>;
  deps?: GatewayDeps;
}

/**
 * Memory or Upstash from src/, and Redis over TCP, which only Node can open. Upstash goes through the
 * pooled undici client too: Node's global fetch costs several times more CPU per call.
 */
function storeFor(config: ReturnType<typeof parseConfig>, env: Record<string, string | undefined>, fetcher: typeof fetch): Store {
  return createStore(config.store, env, { redis: redisStoreFromConfig, fetch: fetcher });
}

export async function nodeGateway(doc: ConfigInput, options: NodeGatewayOptions = {}): Promise<Gateway> {
  const env = options.env ?? process.env;
  // EDGEGATE_SESSION_KEYS, EDGEGATE_ADMIN_TOKEN and the Upstash variables, as on Workers and Deno.
  const config = parseConfig(withSecrets(doc, env));
  const fetcher = upstreamFetch();
  const store = options.deps?.store ?? storeFor(config, env, fetcher);
  const gateway = createGateway(config, {
    fetch: fetcher,
    clientIp: nodeClientIp,
    store,
    accessLog: options.accessLog === false ? undefined : (entry) => process.stdout.write(`${JSON.stringify(entry)}\n`),
    logError: (message, error) => process.stderr.write(`${JSON.stringify({ level: 'error', message, error: String(error) })}\n`),
    ...options.deps,
  });
  try {
    await gateway.ready;
  } catch (err) {
    await gateway.close();
    await fetcher.close();
    throw err;
  }
  return {
    ...gateway,
    async close() {
      await gateway.close();
      await fetcher.close();
    },
  };
}
