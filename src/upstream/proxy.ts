// Sends a request to one upstream service: pick a healthy target, bound it by a timeout, retry an
// idempotent request once on a different target, and stream the reply back.
import { GatewayError } from '../errors.ts';
import { createBalancer } from './balancer.ts';
import { createHealth } from './health.ts';
import { createRetryBudget } from './retry-budget.ts';
import type { UpstreamConfig } from './schema.ts';

export interface UpstreamDeps {
  fetch: typeof fetch;
  now: () => number;
  random: () => number;
}

export interface ProxyRequest {
  method: string;
  /** Path and query, already rewritten, e.g. "/account/42?x=1". */
  pathAndQuery: string;
  headers: HeadersInit;
  /** A buffered body can be replayed on retry; a stream cannot. */
  body: ReadableStream<Uint8Array> | ArrayBuffer | string | null;
  /** Route-level override of the upstream timeout. */
  timeoutMs?: number;
  /**
   * Aborts the attempt in flight because of the client's body (over the limit, cut short); its reason
   * is what send() throws, and the target's health does not count it.
   */
  signal?: AbortSignal;
  /** Whether the client's request may be sent twice (RFC 9110 §9.2.2, or Idempotency-Key). */
  idempotent: boolean;
}

export interface ProxyResult {
  response: Response;
  /** The target that answered (its base URL), for the access log. */
  target: string;
  attempts: number;
}

interface Target {
  /** Base URL without a trailing slash, e.g. "http://127.0.0.1:3001". */
  base: string;
}

/** Retry only on what another target can fix: a refused/reset connection, or 502/503. */
const RETRY_STATUS = new Set([502, 503]);
/** Statuses that count against a target's health. */
const FAILURE_STATUS = new Set([502, 503, 504]);

export type Upstream = ReturnType<typeof createUpstream>;

/** The attempt timer's callback: one function for all, the controller passed as the timer's argument. */
function abortOnTimeout(controller: AbortController): void {
  controller.abort(new GatewayError('upstreamTimeout'));
}

export function createUpstream(name: string, config: UpstreamConfig, deps: UpstreamDeps) {
  const targets: Target[] = config.targets.map((t) => ({ base: t.url.replace(/\/+$/, '') }));
  const balancer = createBalancer(
    config.balancer,
    config.targets.map((t) => t.weight),
    deps.random,
  );
  const health = createHealth(targets.length, config.health, deps.now);
  const budget = createRetryBudget(config.retryBudget, {}, deps.now);
  const isEjected = (i: number) => health.isEjected(i);

  async function attempt(i: number, req: ProxyRequest, timeoutMs: number): Promise<Response> {
    // The timer covers the wait for response headers; the body then streams without a deadline,
    // as nginx's proxy_read_timeout does per read rather than for the whole transfer.
    const controller = new AbortController();
    const timer = setTimeout(abortOnTimeout, timeoutMs, controller);
    // Only a streamed body has a signal: no listener (nor closure) for the others.
    const bodySignal = req.signal;
    const cancel = bodySignal === undefined ? undefined : () => controller.abort(bodySignal.reason);
    if (cancel !== undefined) bodySignal?.addEventListener('abort', cancel, { once: true });
    const init: RequestInit & { duplex?: 'half' } = {
      method: req.method,
      headers: req.headers,
      body: req.body,
      redirect: 'manual',
      signal: controller.signal,
    };
    // Required by the fetch spec to send a streaming request body.
    if (req.body instanceof ReadableStream) init.duplex = 'half';
    try {
      return await deps.fetch(targets[i].base + req.pathAndQuery, init);
    } catch (err) {
      if (bodySignal?.aborted) throw bodySignal.reason;
      if (controller.signal.aborted) throw new GatewayError('upstreamTimeout', { upstream: name });
      throw err;
    } finally {
      clearTimeout(timer);
      if (cancel !== undefined) bodySignal?.removeEventListener('abort', cancel);
    }
  }

  return {
    name,
    /** Whether a failed attempt may be sent again (so a small body is worth buffering). */
    retries: config.retries,
    targets: targets.map((t) => t.base),
    health,

    async send(req: ProxyRequest): Promise<ProxyResult> {
      budget.request();
      const timeoutMs = req.timeoutMs ?? config.timeout;
      const replayable = !(req.body instanceof ReadableStream);
      const maxAttempts = 1 + (req.idempotent && replayable ? config.retries : 0);
      const first = balancer.pick(isEjected);
      if (first < 0) throw new GatewayError('noEndpoint', { upstream: name });
      const tried = new Set<number>();
      let i = first;
      let lastError: unknown;
      for (let attemptNo = 1; ; attemptNo++) {
        tried.add(i);
        let response: Response | undefined;
        try {
          response = await attempt(i, req, timeoutMs);
        } catch (err) {
          // Aborted for the client's body (over the limit, cut short): nothing to hold against the target.
          if (req.signal?.aborted) throw err;
          lastError = err;
        }
        if (response !== undefined && !FAILURE_STATUS.has(response.status)) {
          health.success(i);
          return { response, target: targets[i].base, attempts: attemptNo };
        }
        health.failure(i);
        const timedOut = lastError instanceof GatewayError;
        const retryable = response === undefined ? !timedOut : RETRY_STATUS.has(response.status);
        const next = attemptNo < maxAttempts && retryable ? balancer.pick((j) => tried.has(j) || isEjected(j)) : -1;
        if (next < 0 || !budget.tryRetry()) {
          if (response !== undefined) return { response, target: targets[i].base, attempts: attemptNo };
          if (timedOut) throw lastError;
          throw new GatewayError('networkError', { upstream: name });
        }
        // The failed attempt's reply is dropped, so release its connection.
        await response?.body?.cancel().catch(() => {});
        i = next;
        lastError = undefined;
      }
    },
  };
}
