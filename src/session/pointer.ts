// JSON Pointer (RFC 6901): reading the user id from a login reply and placing the token into it.

function segments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** The value at `pointer`, or undefined. Only own properties count, so "/__proto__" finds nothing. */
export function getPointer(doc: unknown, pointer: string): unknown {
  let cur: unknown = doc;
  for (const seg of segments(pointer)) {
    if (Array.isArray(cur)) {
      if (!/^(0|[1-9]\d*)$/.test(seg)) return undefined;
      cur = cur[Number(seg)];
    } else if (isObject(cur)) {
      if (!Object.hasOwn(cur, seg)) return undefined;
      cur = cur[seg];
    } else return undefined;
  }
  return cur;
}

/**
 * Sets `value` at `pointer`, creating missing objects on the way. Returns false, changing nothing,
 * when the way is blocked by a non-object (or arrays, which a token has no business indexing into).
 */
export function setPointer(doc: unknown, pointer: string, value: unknown): boolean {
  const segs = segments(pointer);
  if (segs.length === 0 || !isObject(doc)) return false;
  if (segs.some((s) => s === '__proto__' || s === 'constructor' || s === 'prototype')) return false;
  let cur: Record<string, unknown> = doc;
  for (let i = 0; i < segs.length - 1; i++) {
    const next = Object.hasOwn(cur, segs[i]) ? cur[segs[i]] : undefined;
    if (next === undefined) {
      // Check the rest of the way before creating anything, so a failure leaves the doc as it was.
      const fresh: Record<string, unknown> = {};
      let tip = fresh;
      for (let j = i + 1; j < segs.length - 1; j++) tip = tip[segs[j]] = {} as Record<string, unknown>;
      tip[segs[segs.length - 1]] = value;
      cur[segs[i]] = fresh;
      return true;
    }
    if (!isObject(next)) return false;
    cur = next;
  }
  cur[segs[segs.length - 1]] = value;
  return true;
}
