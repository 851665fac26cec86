// Parameter rules (body, query, path) compiled once into a checker that runs on every request, no I/O.
import { builtinPattern, compilePattern, REGEX_INPUT_CAP } from './patterns.ts';
import type { FieldRule, ParamsConfig } from './schema.ts';

/** One failing field, as clients see it: `{ field: "body.email", reason: "must match email" }`. */
export interface FieldError {
  readonly field: string;
  readonly reason: string;
}

/** A config problem, with a path relative to the `params` object (`body.email.regex`). */
export interface ParamProblem {
  path: string;
  message: string;
}

export interface ParamsInput {
  /** The parsed JSON body; undefined when the request has none. Anything else than an object fails. */
  body?: unknown;
  /** Query values are strings; a repeated key may come as a list. */
  query?: URLSearchParams | Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Path params of the matched route. */
  path?: Readonly<Record<string, string | undefined>>;
}

/** Returns every failing field, or the shared frozen empty array when all pass. */
export type ParamsChecker = (input: ParamsInput) => readonly FieldError[];

export type ParamsCheck = { problems: ParamProblem[] } | { check: ParamsChecker };

/** What a request returns when nothing fails; shared and frozen so the common case allocates nothing. */
export const NO_FIELD_ERRORS: readonly FieldError[] = Object.freeze([]);

/**
 * At most this many unknown fields are named one by one; the rest are summed up in one error, so a body
 * of 100 000 stray keys cannot make the gateway build (and send) 100 000 errors.
 */
const MAX_UNKNOWN_REPORTED = 20;
/** Client-chosen key names are cut to this length in errors. */
const MAX_KEY_SHOWN = 64;

const REQUIRED = 'is required';
const NOT_EMPTY = 'must not be empty';
const NOT_ALLOWED = 'is not allowed';
const SCALAR = 'must be a string, number or boolean';
const NUMERIC = 'must be numeric';
const A_NUMBER = 'must be a number';
const NOT_OBJECT = 'must be a JSON object';

const scratch: FieldError[] = [];

type FieldType = NonNullable<FieldRule['type']>;

const TYPE_REASON: Record<FieldType, string> = {
  string: 'must be a string',
  integer: 'must be an integer',
  number: 'must be a number',
  boolean: 'must be true or false',
  enum: '', // the enum list gives the reason
};

interface CompiledPattern {
  readonly re: RegExp;
  readonly reason: string;
}

/** One field's rule, resolved to plain values and ready-made reasons. */
interface Field {
  readonly name: string;
  readonly label: string;
  readonly mandatory: boolean;
  /** undefined: "" is checked like any value; false: blank is an error; true: blank passes as is. */
  readonly canEmpty: boolean | undefined;
  readonly type: FieldType | undefined;
  readonly enumValues: ReadonlySet<unknown> | undefined;
  readonly enumReason: string;
  /** Whether any rule looks at the value's string form or number (so objects and arrays fail). */
  readonly scalarOnly: boolean;
  /** In characters (code points); Infinity when unbounded. */
  readonly maxLength: number;
  readonly maxLengthReason: string;
  readonly minLength: number;
  readonly minLengthReason: string;
  readonly numeric: boolean;
  readonly hasRange: boolean;
  readonly min: number;
  readonly max: number;
  readonly minReason: string;
  readonly maxReason: string;
  readonly patterns: readonly CompiledPattern[];
}

interface Location {
  readonly fields: readonly Field[];
  readonly byName: ReadonlyMap<string, Field>;
  readonly rejectUnknown: boolean;
}

// --- value predicates: hand-written loops, so no regex ever runs on unbounded input -----------------

const NON_BLANK = /\S/;

/** Blank = no non-whitespace character. Finds the first one and stops, so it is O(1) for real values. */
function isBlank(s: string): boolean {
  return !NON_BLANK.test(s);
}

/** `-?\d+(\.\d+)?`, the `numeric` pattern, as a loop. */
function isDecimalText(s: string): boolean {
  const n = s.length;
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  const intStart = i;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  if (i === intStart) return false;
  if (i === n) return true;
  if (s.charCodeAt(i) !== 46) return false;
  const fracStart = ++i;
  while (i < n && isDigit(s.charCodeAt(i))) i++;
  return i === n && i > fracStart;
}

/** `-?\d+`, within the safe integer range. */
function isIntegerText(s: string): boolean {
  const n = s.length;
  let i = s.charCodeAt(0) === 45 ? 1 : 0;
  if (i === n || n - i > 16) return false;
  for (; i < n; i++) if (!isDigit(s.charCodeAt(i))) return false;
  return Number.isSafeInteger(Number(s));
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Counts code points of `s`, stopping as soon as the count passes `limit`. */
function codePointsUpTo(s: string, limit: number): number {
  let count = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    if (++count > limit) return count;
  }
  return count;
}

/** Longer than `max` characters? A code point is one or two UTF-16 units, so most cases need no count. */
function tooLong(s: string, max: number): boolean {
  if (s.length <= max) return false;
  if (s.length > 2 * max) return true;
  return codePointsUpTo(s, max) > max;
}

function tooShort(s: string, min: number): boolean {
  if (s.length < min) return true;
  if (s.length >= 2 * min) return false;
  return codePointsUpTo(s, min) < min;
}

function isEmptyContainer(v: object): boolean {
  if (Array.isArray(v)) return v.length === 0;
  for (const key in v) if (Object.hasOwn(v, key)) return false;
  return true;
}

function typeOk(type: FieldType, v: string | number | boolean, textual: boolean): boolean {
  switch (type) {
    case 'string':
      return typeof v === 'string';
    case 'integer':
      return typeof v === 'number' ? Number.isSafeInteger(v) : textual && typeof v === 'string' && isIntegerText(v);
    case 'number':
      return typeof v === 'number' ? Number.isFinite(v) : textual && typeof v === 'string' && isDecimalText(v);
    case 'boolean':
      return typeof v === 'boolean' || (textual && (v === 'true' || v === 'false'));
    case 'enum':
      return true;
  }
}

/** The first reason `v` (present, not null) fails `f`, or undefined. */
function checkValue(f: Field, v: unknown, textual: boolean): string | undefined {
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
    if (f.canEmpty === false && typeof v === 'object' && v !== null && isEmptyContainer(v)) return NOT_EMPTY;
    if (f.type !== undefined && f.type !== 'enum') return TYPE_REASON[f.type];
    return f.scalarOnly ? SCALAR : undefined;
  }
  if (typeof v === 'string' && f.canEmpty !== undefined && isBlank(v)) {
    if (!f.canEmpty) return NOT_EMPTY;
    return undefined;
  }
  if (f.type !== undefined && !typeOk(f.type, v, textual)) return TYPE_REASON[f.type];
  if (f.enumValues !== undefined && !f.enumValues.has(v)) return f.enumReason;
  if (!f.scalarOnly) return undefined;

  const s = typeof v === 'string' ? v : String(v);
  // Length first: everything after it, the regexes above all, only ever sees bounded input.
  if (f.maxLength !== Number.POSITIVE_INFINITY && tooLong(s, f.maxLength)) return f.maxLengthReason;
  if (f.minLength > 0 && tooShort(s, f.minLength)) return f.minLengthReason;
  if (f.numeric && !(typeof v === 'number' ? Number.isFinite(v) : isDecimalText(s))) return NUMERIC;
  if (f.hasRange) {
    const n = typeof v === 'number' ? v : typeof v === 'string' && isDecimalText(v) ? Number(v) : Number.NaN;
    if (Number.isNaN(n)) return A_NUMBER;
    if (n < f.min) return f.minReason;
    if (n > f.max) return f.maxReason;
  }
  for (const p of f.patterns) if (!p.re.test(s)) return p.reason;
  return undefined;
}

// --- compile ---------------------------------------------------------------------------------------

function describeValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function compileField(
  where: 'body' | 'query' | 'path',
  name: string,
  rule: FieldRule,
  named: Readonly<Record<string, string>>,
  problems: ParamProblem[],
): Field {
  const at = `${where}.${name}`;
  const textual = where !== 'body';
  const patterns: CompiledPattern[] = [];
  if (rule.format !== undefined) {
    // `format` always means the built-in, even when `named` redefines a pattern of the same name.
    const re = builtinPattern(rule.format);
    if (re === undefined) problems.push({ path: `${at}.format`, message: `unknown format "${rule.format}"` });
    else patterns.push({ re, reason: `must be a valid ${rule.format}` });
  }
  if (rule.regex !== undefined) {
    const re = compilePattern(rule.regex, named);
    if (typeof re === 'string') problems.push({ path: `${at}.regex`, message: re });
    else patterns.push({ re, reason: rule.regex.startsWith('/') ? 'must match the required pattern' : `must match ${rule.regex}` });
  }

  const type = rule.type;
  if (type === 'enum' && rule.enum === undefined)
    problems.push({ path: `${at}.enum`, message: 'a list of values is required when type is "enum"' });
  let enumValues: Set<unknown> | undefined;
  let enumReason = '';
  if (rule.enum !== undefined) {
    for (const value of rule.enum) {
      if (type !== undefined && type !== 'enum' && !typeOk(type, value, false)) {
        problems.push({ path: `${at}.enum`, message: `${JSON.stringify(value)} is not of type ${type}` });
      }
    }
    // Query and path values are text, so they are compared with the text of each listed value.
    enumValues = new Set(textual ? rule.enum.map(String) : rule.enum);
    const shown = rule.enum.map(describeValue).join(', ');
    enumReason = `must be one of ${shown.length > 200 ? `${shown.slice(0, 197)}...` : shown}`;
  }

  const hasRange = rule.min !== undefined || rule.max !== undefined;
  if (hasRange && (type === 'string' || type === 'boolean')) {
    problems.push({ path: `${at}.${rule.min !== undefined ? 'min' : 'max'}`, message: `applies to numbers, but type is "${type}"` });
  }
  if (rule.min !== undefined && rule.max !== undefined && rule.min > rule.max) {
    problems.push({ path: `${at}.min`, message: `is greater than max (${rule.max})` });
  }
  if (rule.minLength !== undefined && rule.max_length !== undefined && rule.minLength > rule.max_length) {
    problems.push({ path: `${at}.minLength`, message: `is greater than max_length (${rule.max_length})` });
  }

  // A regex never sees more than max_length characters, or REGEX_INPUT_CAP when none is given.
  const maxLength = rule.max_length ?? (patterns.length > 0 ? REGEX_INPUT_CAP : Number.POSITIVE_INFINITY);
  const minLength = rule.minLength ?? 0;
  const numeric = rule.numeric === true;
  return {
    name,
    label: at,
    mandatory: rule.mandatory === true,
    canEmpty: rule.can_empty,
    type,
    enumValues,
    enumReason,
    scalarOnly:
      maxLength !== Number.POSITIVE_INFINITY || minLength > 0 || numeric || hasRange || patterns.length > 0 || enumValues !== undefined,
    maxLength,
    maxLengthReason: `must be at most ${maxLength} characters`,
    minLength,
    minLengthReason: `must be at least ${minLength} characters`,
    numeric,
    hasRange,
    min: rule.min ?? Number.NEGATIVE_INFINITY,
    max: rule.max ?? Number.POSITIVE_INFINITY,
    minReason: `must be at least ${rule.min}`,
    maxReason: `must be at most ${rule.max}`,
    patterns,
  };
}

function compileLocation(
  where: 'body' | 'query' | 'path',
  rules: Readonly<Record<string, FieldRule>> | undefined,
  rejectUnknown: boolean,
  named: Readonly<Record<string, string>>,
  problems: ParamProblem[],
): Location | undefined {
  if (rules === undefined) return undefined;
  // Object.keys: own keys only, so a rule set parsed from JSON with a "__proto__" key stays a rule.
  const fields = Object.keys(rules).map((name) => compileField(where, name, rules[name], named, problems));
  // An empty rule set accepts anything (the original's behaviour for `parameters: {}`).
  if (fields.length === 0) return undefined;
  return { fields, byName: new Map(fields.map((f) => [f.name, f])), rejectUnknown };
}

// --- check -----------------------------------------------------------------------------------------

function keyLabel(where: string, key: string): string {
  return `${where}.${key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}...` : key}`;
}

function pushUnknown(out: FieldError[], where: string, key: string, reported: number): void {
  if (reported < MAX_UNKNOWN_REPORTED) out.push({ field: keyLabel(where, key), reason: NOT_ALLOWED });
}

function pushUnknownSummary(out: FieldError[], where: string, reported: number): void {
  const more = reported - MAX_UNKNOWN_REPORTED;
  if (more > 0)
    out.push({ field: where, reason: `has ${more} more field${more === 1 ? '' : 's'} that ${more === 1 ? 'is' : 'are'} not allowed` });
}

function checkBody(loc: Location, body: unknown, out: FieldError[]): void {
  if (body === undefined) body = {};
  else if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    out.push({ field: 'body', reason: NOT_OBJECT });
    return;
  }
  const obj = body as Record<string, unknown>;
  for (const f of loc.fields) {
    // Object.hasOwn, never `in` or a bare lookup: "constructor" or "__proto__" must not be found on the prototype.
    const v = Object.hasOwn(obj, f.name) ? obj[f.name] : undefined;
    // JSON null counts as absent: a mandatory field needs a value, an optional one may be null.
    if (v === undefined || v === null) {
      if (f.mandatory) out.push({ field: f.label, reason: REQUIRED });
      continue;
    }
    const reason = checkValue(f, v, false);
    if (reason !== undefined) out.push({ field: f.label, reason });
  }
  if (loc.rejectUnknown) {
    let unknown = 0;
    for (const key in obj) {
      if (!Object.hasOwn(obj, key) || loc.byName.has(key)) continue;
      pushUnknown(out, 'body', key, unknown++);
    }
    pushUnknownSummary(out, 'body', unknown);
  }
}

/** Checks one text value or every value of a repeated key; a field reports its first failure only. */
function checkText(f: Field, value: string | readonly string[] | null | undefined, out: FieldError[]): void {
  if (value === undefined || value === null || (typeof value !== 'string' && value.length === 0)) {
    if (f.mandatory) out.push({ field: f.label, reason: REQUIRED });
    return;
  }
  if (typeof value === 'string') {
    const reason = checkValue(f, value, true);
    if (reason !== undefined) out.push({ field: f.label, reason });
    return;
  }
  // Every value of a repeated key must pass: upstreams differ on whether they read the first or the last.
  for (const v of value) {
    const reason = checkValue(f, v, true);
    if (reason !== undefined) {
      out.push({ field: f.label, reason });
      return;
    }
  }
}

function checkQuery(loc: Location, query: ParamsInput['query'], out: FieldError[]): void {
  if (query instanceof URLSearchParams) {
    for (const f of loc.fields) {
      const all = query.getAll(f.name);
      checkText(f, all.length === 1 ? all[0] : all, out);
    }
    if (loc.rejectUnknown) {
      let unknown = 0;
      let seen: Set<string> | undefined;
      for (const key of query.keys()) {
        if (loc.byName.has(key)) continue;
        seen ??= new Set();
        if (seen.has(key)) continue; // a repeated unknown key is one error
        seen.add(key);
        pushUnknown(out, 'query', key, unknown++);
      }
      pushUnknownSummary(out, 'query', unknown);
    }
    return;
  }
  const rec = query ?? {};
  for (const f of loc.fields) checkText(f, Object.hasOwn(rec, f.name) ? rec[f.name] : undefined, out);
  if (loc.rejectUnknown) {
    let unknown = 0;
    for (const key in rec) {
      if (!Object.hasOwn(rec, key) || loc.byName.has(key) || rec[key] === undefined) continue;
      pushUnknown(out, 'query', key, unknown++);
    }
    pushUnknownSummary(out, 'query', unknown);
  }
}

function checkPath(loc: Location, path: ParamsInput['path'], out: FieldError[]): void {
  const rec = path ?? {};
  for (const f of loc.fields) checkText(f, Object.hasOwn(rec, f.name) ? rec[f.name] : undefined, out);
}

/**
 * Compiles a route's `params` once. Returns every config problem (paths relative to `params`), or the
 * checker. `named` are the config's own named patterns, used by `regex` besides the built-ins.
 *
 * Unknown fields: the body rejects fields without a rule by default (as the original did) unless
 * `unknown: "allow"`; the query allows them unless `unknown: "reject"` is set explicitly, because
 * browsers, proxies and analytics add query keys (utm_*, cache busters) that the upstream ignores;
 * path params come from the route pattern itself and are never "unknown". A location whose rule set is
 * absent or empty accepts anything.
 */
export function compileParams(config: ParamsConfig, named: Readonly<Record<string, string>> = {}): ParamsCheck {
  const problems: ParamProblem[] = [];
  const body = compileLocation('body', config.body, config.unknown !== 'allow', named, problems);
  const query = compileLocation('query', config.query, config.unknown === 'reject', named, problems);
  const path = compileLocation('path', config.path, false, named, problems);
  if (problems.length > 0) return { problems };

  return {
    check(input: ParamsInput): readonly FieldError[] {
      // Errors gather in one module-wide scratch list (the check is synchronous, so no two requests
      // share it at once) and are copied out only when there are some: a passing request allocates
      // nothing here beyond the query lookups.
      scratch.length = 0;
      if (body !== undefined) checkBody(body, input.body, scratch);
      if (query !== undefined) checkQuery(query, input.query, scratch);
      if (path !== undefined) checkPath(path, input.path, scratch);
      if (scratch.length === 0) return NO_FIELD_ERRORS;
      const errors = scratch.slice();
      scratch.length = 0;
      return errors;
    },
  };
}
