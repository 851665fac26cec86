// edgegate's public surface.
export { createGateway } from './gateway.ts';
export type { Gateway, GatewayDeps, AccessLogEntry } from './gateway.ts';
export { parseConfig, ConfigError } from './config/load.ts';
export type { Config, ConfigInput, RouteConfig } from './config/schema.ts';
export { GatewayError, StoreError, codes } from './errors.ts';
export type { Store, Command, Script } from './store/store.ts';
export { memoryStore } from './store/memory.ts';
