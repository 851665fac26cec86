// The rate-limit feature's public surface: the limiter factory, the problem helper, the pure algorithms, the script.
export { type Decide, type Decision, fixedWindow, gcra, type LimitParams, slidingWindow, tokenBucket } from './algorithms.ts';
export { problemFor, QUOTA_EXCEEDED_TYPE, violatedPolicies } from './headers.ts';
export {
  createLimiter,
  type Limiter,
  type LimiterConfig,
  type LimiterDeps,
  type LimiterEvent,
  type LimiterRoute,
  type LimiterStats,
  type RouteLimiter,
} from './limiter.ts';
export { type KeySpec, type Limit, type LimitsConfig, limitSchema, limitsSchema, routeLimitsSchema } from './schema.ts';
export { type LimitsReply, limitsScript } from './script.ts';
