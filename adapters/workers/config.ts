// The config bundled into the Worker; the EDGEGATE_CONFIG variable, when set, takes precedence.
// To ship a config file inside the bundle instead of a variable, replace the export below with:
//   export { default as bundledConfig } from '../../edgegate.json';
// (wrangler bundles JSON imports; keep secrets out of it and in `wrangler secret put`).
export const bundledConfig: unknown = undefined;
