// Request smuggling against the Node adapter, on raw sockets both sides: conflicting Content-Length and
// Transfer-Encoding, duplicated lengths, TE obfuscations, requests hidden in bodies. The gateway must
// refuse (400) or frame consistently, so the upstream — a raw TCP server that parses every byte it gets —
// never sees a request the gateway did not route itself.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningGateway, startGateway } from '../helpers/gateway.ts';
import { recordFigures } from './figures.ts';
import { rawExchange } from './raw.ts';

interface UpstreamRequest {
  method: string;
  path: string;
  headers: Record<string, string[]>;
  body: string;
  /** Framing problems the upstream noticed (both CL and TE, a bad chunk). */
  problems: string[];
}

/** A raw HTTP/1.1 upstream: parses requests off the wire itself and answers each with 200. */
async function rawUpstream() {
  const requests: UpstreamRequest[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        const parsed = parseOne(buf);
        if (parsed === undefined) break;
        buf = buf.subarray(parsed.used);
        requests.push(parsed.request);
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** One request from the front of `buf`, or undefined when it has not all arrived. */
function parseOne(buf: Buffer): { request: UpstreamRequest; used: number } | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const [line, ...fields] = buf.subarray(0, end).toString('latin1').split('\r\n');
  const [method, path] = line.split(' ');
  const headers: Record<string, string[]> = {};
  for (const f of fields) {
    const colon = f.indexOf(':');
    const name = f.slice(0, colon).trim().toLowerCase();
    headers[name] = [...(headers[name] ?? []), f.slice(colon + 1).trim()];
  }
  const problems: string[] = [];
  let at = end + 4;
  let body = '';
  const te = headers['transfer-encoding'];
  const cl = headers['content-length'];
  if (te !== undefined && cl !== undefined) problems.push('both Content-Length and Transfer-Encoding');
  if (cl !== undefined && cl.length > 1) problems.push('two Content-Length fields');
  if (te !== undefined) {
    if (te.join(',').trim().toLowerCase() !== 'chunked') problems.push(`Transfer-Encoding ${te.join(',')}`);
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', at);
      if (lineEnd < 0) return undefined;
      const size = Number.parseInt(buf.subarray(at, lineEnd).toString('latin1'), 16);
      if (!Number.isFinite(size)) {
        problems.push('bad chunk size');
        break;
      }
      if (buf.length < lineEnd + 2 + size + 2) return undefined;
      body += buf.subarray(lineEnd + 2, lineEnd + 2 + size).toString('latin1');
      at = lineEnd + 2 + size + 2;
      if (size === 0) break;
    }
  } else if (cl !== undefined) {
    const n = Number(cl[0]);
    if (buf.length < at + n) return undefined;
    body = buf.subarray(at, at + n).toString('latin1');
    at += n;
  }
  return { request: { method, path, headers, body, problems }, used: at };
}

let upstream: Awaited<ReturnType<typeof rawUpstream>>;
let gw: RunningGateway;
const figures = { cases: 0, refused: 0, framedConsistently: 0 };

beforeAll(async () => {
  upstream = await rawUpstream();
  gw = await startGateway({
    upstreams: { raw: { targets: [{ url: upstream.url }], retries: 0 } },
    routes: [{ method: ['GET', 'POST', 'PUT'], path: '/up/*', upstream: 'raw' }],
  });
});

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await recordFigures('smuggling', figures);
});

const SMUGGLED = 'GET /up/smuggled HTTP/1.1\r\nHost: gw\r\n\r\n';
/** A well-formed request sent after each attack on the same connection: it may be routed, nothing else may. */
const FOLLOW_UP = 'GET /up/follow-up HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n';

/**
 * Sends `attack` then the follow-up on one connection; returns the status lines the client got.
 * Afterwards: the upstream saw only requests the gateway logged as routed (matched by request id), none
 * of them a smuggled one, each framed one way only.
 */
async function attempt(attack: string): Promise<string[]> {
  const seenBefore = upstream.requests.length;
  const logBefore = gw.log.length;
  const reply = await rawExchange(gw.server.port, attack + FOLLOW_UP);
  // Let the access log catch up with the replies.
  await new Promise((r) => setTimeout(r, 50));
  const statuses = reply.match(/HTTP\/1\.1 \d{3}[^\r]*/g) ?? [];
  const routed = new Set(
    gw.log
      .slice(logBefore)
      .filter((e) => e.upstream !== null)
      .map((e) => e.request_id),
  );
  const reached = upstream.requests.slice(seenBefore);
  for (const r of reached) {
    expect(r.path, `${JSON.stringify(attack)} smuggled ${r.method} ${r.path}`).not.toContain('smuggled');
    expect(routed.has(r.headers['x-request-id']?.[0] ?? ''), `${r.method} ${r.path} reached the upstream unlogged`).toBe(true);
    expect(r.problems, `${r.method} ${r.path} framed ambiguously`).toEqual([]);
  }
  expect(reached.length).toBe(routed.size);
  figures.cases++;
  if (statuses[0]?.includes(' 400 ')) figures.refused++;
  else figures.framedConsistently++;
  return statuses;
}

describe('request smuggling (raw sockets, Node adapter)', () => {
  it('Content-Length and Transfer-Encoding together: 400', async () => {
    const statuses = await attempt(
      `POST /up/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    );
    expect(statuses[0]).toBe('HTTP/1.1 400 Bad Request');
  });

  it('Transfer-Encoding first, then Content-Length: 400', async () => {
    const statuses = await attempt(
      `POST /up/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    );
    expect(statuses[0]).toBe('HTTP/1.1 400 Bad Request');
  });

  it('two different Content-Length fields: 400', async () => {
    const statuses = await attempt(`POST /up/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 0\r\nContent-Length: 39\r\n\r\n${SMUGGLED}`);
    expect(statuses[0]).toBe('HTTP/1.1 400 Bad Request');
  });

  it('two equal Content-Length fields, a list of lengths, two chunked fields: 400 (Node refuses even the harmless ones)', async () => {
    for (const fields of [
      'Content-Length: 3\r\nContent-Length: 3',
      'Content-Length: 3, 3',
      'Content-Length: 3,39',
      'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
    ]) {
      const statuses = await attempt(`POST /up/a HTTP/1.1\r\nHost: gw\r\n${fields}\r\n\r\nabc${SMUGGLED}`);
      expect(statuses[0], fields).toBe('HTTP/1.1 400 Bad Request');
    }
  });

  it.each([
    ['chunked, identity', 'Transfer-Encoding: chunked, identity'],
    ['identity, chunked (with a length)', 'Transfer-Encoding: identity, chunked\r\nContent-Length: 5'],
    ['xchunked', 'Transfer-Encoding: xchunked'],
    ['chunked then identity in two fields', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity'],
    ['a vertical tab before chunked', 'Transfer-Encoding:\x0bchunked'],
    ['a form feed after chunked', 'Transfer-Encoding: chunked\x0c'],
    ['a name with a space before the colon', 'Transfer-Encoding : chunked'],
    ['an obs-fold continuation', 'Transfer-Encoding:\r\n chunked'],
    ['a quoted "chunked"', 'Transfer-Encoding: "chunked"'],
  ])('Transfer-Encoding obfuscation (%s): 400', async (_name, field) => {
    const statuses = await attempt(`POST /up/a HTTP/1.1\r\nHost: gw\r\n${field}\r\n\r\n0\r\n\r\n${SMUGGLED}`);
    expect(statuses[0]).toBe('HTTP/1.1 400 Bad Request');
  });

  it.each([
    ['leading space', 'Transfer-Encoding:  chunked'],
    ['capitals', 'Transfer-Encoding: Chunked'],
    ['trailing space', 'Transfer-Encoding: chunked '],
  ])('Transfer-Encoding variant that still means chunked (%s): read as chunked, the rest is the next request', async (_name, field) => {
    // The body is the empty chunked body; what follows is a second request the gateway itself routes.
    const statuses = await attempt(
      `POST /up/a HTTP/1.1\r\nHost: gw\r\n${field}\r\n\r\n0\r\n\r\nGET /up/second HTTP/1.1\r\nHost: gw\r\n\r\n`,
    );
    expect(statuses.slice(0, 3)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
  });

  it('a request hidden in a correctly framed body stays body', async () => {
    const body = `x${SMUGGLED}`;
    const before = upstream.requests.length;
    const statuses = await attempt(`POST /up/carrier HTTP/1.1\r\nHost: gw\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    expect(statuses.slice(0, 2)).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
    const carrier = upstream.requests.slice(before).find((r) => r.path === '/up/carrier')!;
    expect(carrier.body).toBe(body);
    // The gateway frames what it sends one way: a length, or chunks, never both.
    expect(carrier.headers['content-length'] === undefined || carrier.headers['transfer-encoding'] === undefined).toBe(true);
  });

  it('a chunked body with a chunk size that overflows, a bad size or a missing CRLF: 400', async () => {
    for (const body of [
      'ffffffffffffffffff1\r\nx\r\n0\r\n\r\n',
      'zz\r\nx\r\n0\r\n\r\n',
      '3\r\nabcde\r\n0\r\n\r\n',
      '-1\r\nx\r\n0\r\n\r\n',
    ]) {
      const statuses = await attempt(`POST /up/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n${body}${SMUGGLED}`);
      expect(statuses[0], JSON.stringify(body)).toBe('HTTP/1.1 400 Bad Request');
    }
  });

  it('Content-Length that is not a plain number: 400', async () => {
    for (const value of ['+3', '-1', '3.0', '0x3', ' 3 a', '99999999999999999999']) {
      const statuses = await attempt(`POST /up/a HTTP/1.1\r\nHost: gw\r\nContent-Length: ${value}\r\n\r\nabc${SMUGGLED}`);
      expect(statuses[0], value).toBe('HTTP/1.1 400 Bad Request');
    }
  });

  it('bare LF line endings, NUL and CR in header values: 400', async () => {
    for (const attack of [
      `POST /up/a HTTP/1.1\nHost: gw\nContent-Length: 0\n\n${SMUGGLED}`,
      `POST /up/a HTTP/1.1\r\nHost: gw\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n`,
      `POST /up/a HTTP/1.1\r\nHost: gw\r\nX-A: a\rTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n`,
    ]) {
      const statuses = await attempt(attack);
      expect(statuses[0], JSON.stringify(attack)).toBe('HTTP/1.1 400 Bad Request');
    }
  });

  it('HTTP/1.0 with Transfer-Encoding and a length: 400', async () => {
    const statuses = await attempt(
      `POST /up/a HTTP/1.0\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n0\r\n\r\n${SMUGGLED}`,
    );
    expect(statuses[0]).toBe('HTTP/1.1 400 Bad Request');
  });

  it('pipelined requests are each routed by the gateway, and only they reach the upstream', async () => {
    const statuses = await attempt(
      'GET /up/p1 HTTP/1.1\r\nHost: gw\r\n\r\nPOST /up/p2 HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n\r\nhiGET /up/p3 HTTP/1.1\r\nHost: gw\r\n\r\n',
    );
    expect(statuses).toEqual(['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK', 'HTTP/1.1 200 OK']);
    expect(upstream.requests.slice(-4).map((r) => r.path)).toEqual(['/up/p1', '/up/p2', '/up/p3', '/up/follow-up']);
  });
});
