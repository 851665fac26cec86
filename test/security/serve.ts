// The Node adapter with chosen abuse limits, on an ephemeral loopback port, for the security suites.
import { nodeGateway } from '../../adapters/node/gateway.ts';
import { type NodeLimits, serveNode } from '../../adapters/node/serve.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import type { AccessLogEntry, GatewayDeps } from '../../src/gateway.ts';
import type { RunningGateway } from '../helpers/gateway.ts';

export interface HardenedGateway extends RunningGateway {
  errors: string[];
}

export async function serveWithLimits(
  config: ConfigInput,
  limits: Partial<NodeLimits> = {},
  deps: GatewayDeps = {},
): Promise<HardenedGateway> {
  const log: AccessLogEntry[] = [];
  const errors: string[] = [];
  const gateway = await nodeGateway(config, {
    deps: { accessLog: (e) => log.push(e), logError: (message) => errors.push(message), ...deps },
  });
  const server = await serveNode(gateway, { port: 0, hostname: '127.0.0.1', limits });
  return {
    url: server.url,
    gateway,
    server,
    log,
    errors,
    close: async () => {
      await server.close(500);
      await gateway.close();
    },
  };
}
