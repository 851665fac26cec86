// Starts edgegate on the Node adapter on an ephemeral port, for integration tests.
import { nodeGateway } from '../../adapters/node/gateway.ts';
import { type NodeServer, serveNode } from '../../adapters/node/serve.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import type { AccessLogEntry, Gateway, GatewayDeps } from '../../src/gateway.ts';

export interface RunningGateway {
  url: string;
  gateway: Gateway;
  server: NodeServer;
  log: AccessLogEntry[];
  close(): Promise<void>;
}

export async function startGateway(config: ConfigInput, deps: GatewayDeps = {}): Promise<RunningGateway> {
  const log: AccessLogEntry[] = [];
  const gateway = await nodeGateway(config, { deps: { accessLog: (e) => log.push(e), logError: () => {}, ...deps } });
  const server = await serveNode(gateway, { port: 0, hostname: '127.0.0.1' });
  return {
    url: server.url,
    gateway,
    server,
    log,
    close: async () => {
      await server.close(1_000);
      await gateway.close();
    },
  };
}
