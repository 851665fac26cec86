// What one request carries through the pipeline, and the contract of a stateful step.
import type { StoreError } from './errors.ts';
import type { Command } from './store/store.ts';

/** Who the request belongs to, once a credential has been verified. */
export interface Identity {
  /** The user id (`sub`). */
  sub: string;
  /** The session id, for gateway sessions. */
  sid?: string;
  /** Verified claims, for identity headers and user-keyed limits. */
  claims: Record<string, unknown>;
}

export interface RequestContext {
  readonly request: Request;
  readonly url: URL;
  /** Index of the matched route in `config.routes`. */
  readonly routeIndex: number;
  /** Path params of the matched route. */
  readonly params: Record<string, string>;
  /** The client address (after trusted-proxy handling). */
  readonly ip: string;
  readonly requestId: string;
  /** Milliseconds since the epoch when the request arrived (injected clock). */
  readonly now: number;
  /** Set by authentication. */
  identity?: Identity;
  /** Headers added to the upstream request (identity headers). */
  readonly upstreamHeaders: Headers;
  /** Headers added to the response, allowed or denied (rate-limit fields). */
  readonly responseHeaders: Headers;
}

/**
 * A stateful check that rides in the request's single store round trip.
 * The gateway gathers the commands of every step (session lookup and refresh, all rate limits),
 * sends them in one `store.batch`, then hands each step its own slice of the results.
 */
export interface StoreStep {
  readonly commands: readonly Command[];
  /**
   * Reads this step's results, in the order of `commands`; throws a GatewayError to deny.
   * May be async when the decision needs more than CPU on the results (the original gateway's
   * sessions keep the JWT in the store, so it can only be verified after the round trip).
   */
  apply(results: readonly unknown[]): void | Promise<void>;
  /** The store failed or timed out: throw a GatewayError to fail closed, return to fail open. */
  fail(error: StoreError): void;
}
