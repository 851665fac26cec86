// edgegate's public surface.

export { ConfigError, parseConfig } from './config/load.ts';
export type { Config, ConfigInput, RouteConfig } from './config/schema.ts';
export { codes, GatewayError, StoreError } from './errors.ts';
export type { AccessLogEntry, Gateway, GatewayDeps } from './gateway.ts';
export { createGateway } from './gateway.ts';
export { memoryStore } from './store/memory.ts';
export type { Command, Script, Store } from './store/store.ts';
