// Request bodies under a size limit: read whole (when a rule needs them) or streamed through a counter.
import { GatewayError } from './errors.ts';

/** Rejects early on a declared Content-Length over the limit, before any byte is read. */
export function checkDeclaredLength(request: Request, limit: number): void {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw new GatewayError('payloadTooLarge', { limit });
}

/** Reads the body, failing with 413 as soon as it passes `limit` bytes. */
export async function readBody(request: Request, limit: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    let next: ReadableStreamReadResult<Uint8Array>;
    try {
      next = await reader.read();
    } catch {
      // The client went away or stalled mid-body (the Node adapter's body timeout): its fault, not ours.
      throw new GatewayError('malformedBody', { reason: 'the request body was cut short' });
    }
    const { done, value } = next;
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      throw new GatewayError('payloadTooLarge', { limit });
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(size);
  let offset = 0;
  for (const c of chunks) {
    out.set(c, offset);
    offset += c.byteLength;
  }
  return out;
}

/**
 * Passes a body through while counting. A body over `limit` (413) or cut short by the client (400) is a
 * fault of the client's: `onFault` hears of it first (to abort the upstream request: workerd ends a
 * request whose body stream errors as if it were complete, so the upstream would take a truncated body
 * for the whole one), then the stream errors, and `fault()` tells which it was.
 */
export function limitStream(body: ReadableStream<Uint8Array>, limit: number, onFault?: (fault: GatewayError) => void) {
  const reader = body.getReader();
  let size = 0;
  let fault: GatewayError | undefined;
  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, err: GatewayError) => {
    fault = err;
    onFault?.(err);
    controller.error(err);
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await reader.read();
      } catch {
        return fail(controller, new GatewayError('malformedBody', { reason: 'the request body was cut short' }));
      }
      if (next.done) return controller.close();
      size += next.value.byteLength;
      if (size > limit) {
        reader.cancel().catch(() => {});
        return fail(controller, new GatewayError('payloadTooLarge', { limit }));
      }
      controller.enqueue(next.value);
    },
    cancel: (reason) => reader.cancel(reason),
  });
  return { stream, fault: () => fault };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses a JSON or form body for parameter rules; anything else is a 400. */
export function parseBody(bytes: Uint8Array, contentType: string | null): unknown {
  if (bytes.byteLength === 0) return {};
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new GatewayError('malformedBody', { reason: 'body is not valid UTF-8' });
  }
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json') || type === '') {
    try {
      return JSON.parse(text);
    } catch {
      throw new GatewayError('malformedBody', { reason: 'body is not valid JSON' });
    }
  }
  if (type === 'application/x-www-form-urlencoded') {
    // No prototype: a "__proto__" field stays a plain field.
    const out: Record<string, string> = Object.create(null);
    for (const [k, v] of new URLSearchParams(text)) out[k] = v;
    return out;
  }
  throw new GatewayError('malformedBody', { reason: 'expected a JSON or form body' });
}
