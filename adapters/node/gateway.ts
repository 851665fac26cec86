// Builds a gateway with Node's runtime services: the pooled upstream client, the socket's peer
// address, Redis over TCP when the config asks for it, and the access log on stdout.
import { parseConfig } from '../../src/config/load.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { type Gateway, type GatewayDeps, createGateway } from '../../src/gateway.ts';
import { memoryStore } from '../../src/store/memory.ts';
import type { Store } from '../../src/store/store.ts';
import { nodeClientIp } from './serve.ts';
import { upstreamFetch } from './upstream-fetch.ts';

export interface NodeGatewayOptions {
  accessLog?: boolean;
  env?: Record<string, string | undefined>;
  deps?: GatewayDeps;
}

async function storeFor(config: ReturnType<typeof parseConfig>, env: Record<string, string | undefined>): Promise<Store> {
  const { createStore } = await import('../../src/store/create.ts').catch(() => ({ createStore: undefined }));
  if (createStore === undefined) return memoryStore(config.store.type === 'memory' ? { maxEntries: config.store.maxEntries } : {});
  const { redisStore } = await import('./redis-store.ts');
  return createStore(config.store, env, { redis: (cfg) => redisStore(cfg) });
}

export async function nodeGateway(doc: ConfigInput, options: NodeGatewayOptions = {}): Promise<Gateway> {
  const config = parseConfig(doc);
  const env = options.env ?? process.env;
  const fetcher = upstreamFetch();
  const store = options.deps?.store ?? (await storeFor(config, env));
  const gateway = createGateway(config, {
    fetch: fetcher,
    clientIp: nodeClientIp,
    store,
    accessLog: options.accessLog === false ? undefined : (entry) => process.stdout.write(`${JSON.stringify(entry)}\n`),
    logError: (message, error) => process.stderr.write(`${JSON.stringify({ level: 'error', message, error: String(error) })}\n`),
    ...options.deps,
  });
  return {
    ...gateway,
    async close() {
      await gateway.close();
      await fetcher.close();
    },
  };
}
