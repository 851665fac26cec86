// Parameter rules: every rule kind on body, query and path, unknown fields, hostile keys and sizes.
import { describe, expect, it } from 'vitest';
import { compileParams, type FieldError, NO_FIELD_ERRORS, type ParamsChecker, type ParamsInput } from '../../src/rules/params.ts';
import type { FieldRule, ParamsConfig } from '../../src/rules/schema.ts';

function checker(config: ParamsConfig, named?: Record<string, string>): ParamsChecker {
  const compiled = compileParams(config, named);
  if ('problems' in compiled) throw new Error(JSON.stringify(compiled.problems));
  return compiled.check;
}

/** The reason a single body field `f` with `rule` gets for `value` (undefined: absent), or "ok". */
function bodyReason(rule: FieldRule, value: unknown): string {
  const errors = checker({ body: { f: rule } })({ body: value === undefined ? {} : { f: value } });
  return errors.length === 0 ? 'ok' : errors.map((e) => `${e.field}: ${e.reason}`).join('; ');
}

function queryReason(rule: FieldRule, value: string | string[] | undefined): string {
  const errors = checker({ query: { f: rule } })({ query: value === undefined ? {} : { f: value } });
  return errors.length === 0 ? 'ok' : errors.map((e) => `${e.field}: ${e.reason}`).join('; ');
}

const login: ParamsConfig = {
  // The original's user/login rule, as ported.
  body: {
    email: { max_length: 100, numeric: false, mandatory: true, can_empty: false, regex: 'email' },
    password: { max_length: 100, numeric: false, mandatory: true, can_empty: false, regex: 'password' },
  },
};

describe('body field rules', () => {
  it.each<[string, FieldRule, unknown, string]>([
    // mandatory: a missing field IS an error (the original let it pass)
    ['mandatory, missing', { mandatory: true }, undefined, 'body.f: is required'],
    ['mandatory, null', { mandatory: true }, null, 'body.f: is required'],
    ['mandatory, present', { mandatory: true }, 'x', 'ok'],
    ['mandatory, false is a value', { mandatory: true }, false, 'ok'],
    ['mandatory, 0 is a value', { mandatory: true }, 0, 'ok'],
    ['optional, missing', { max_length: 3 }, undefined, 'ok'],
    ['optional, null', { max_length: 3, regex: 'email' }, null, 'ok'],
    // can_empty
    ['can_empty false, ""', { can_empty: false }, '', 'body.f: must not be empty'],
    ['can_empty false, whitespace', { can_empty: false }, ' \t\n', 'body.f: must not be empty'],
    ['can_empty false, []', { can_empty: false }, [], 'body.f: must not be empty'],
    ['can_empty false, {}', { can_empty: false }, {}, 'body.f: must not be empty'],
    ['can_empty false, " a "', { can_empty: false }, ' a ', 'ok'],
    ['can_empty false, 0', { can_empty: false }, 0, 'ok'],
    ['can_empty true, "" skips other checks', { can_empty: true, regex: 'email', minLength: 3 }, '', 'ok'],
    ['can_empty unset, "" is checked', { regex: 'email' }, '', 'body.f: must match email'],
    ['can_empty unset, "" has no rule against it', {}, '', 'ok'],
    // lengths, in characters (code points)
    ['max_length, at', { max_length: 3 }, 'abc', 'ok'],
    ['max_length, over', { max_length: 3 }, 'abcd', 'body.f: must be at most 3 characters'],
    ['max_length, emoji count once', { max_length: 3 }, '😀😀😀', 'ok'],
    ['max_length, emoji over', { max_length: 3 }, '😀😀😀😀', 'body.f: must be at most 3 characters'],
    ['max_length, number string form', { max_length: 3 }, 12345, 'body.f: must be at most 3 characters'],
    ['max_length 0', { max_length: 0 }, 'a', 'body.f: must be at most 0 characters'],
    ['minLength, under', { minLength: 2 }, 'a', 'body.f: must be at least 2 characters'],
    ['minLength, at', { minLength: 2 }, 'ab', 'ok'],
    ['minLength, emoji is one character', { minLength: 2 }, '😀', 'body.f: must be at least 2 characters'],
    ['lengths on an object', { max_length: 10 }, { a: 1 }, 'body.f: must be a string, number or boolean'],
    ['lengths on an array', { minLength: 1 }, ['a'], 'body.f: must be a string, number or boolean'],
    // numeric
    ['numeric, digits', { numeric: true }, '12345', 'ok'],
    ['numeric, decimal string', { numeric: true }, '-12.5', 'ok'],
    ['numeric, number', { numeric: true }, 12.5, 'ok'],
    ['numeric, letters', { numeric: true }, '12a', 'body.f: must be numeric'],
    ['numeric, boolean', { numeric: true }, true, 'body.f: must be numeric'],
    ['numeric, exponent', { numeric: true }, '1e3', 'body.f: must be numeric'],
    ['numeric false checks nothing', { numeric: false }, 'abc', 'ok'],
    // type
    ['type string', { type: 'string' }, 'x', 'ok'],
    ['type string, number', { type: 'string' }, 1, 'body.f: must be a string'],
    ['type string, object', { type: 'string' }, { a: 1 }, 'body.f: must be a string'],
    ['type integer', { type: 'integer' }, 42, 'ok'],
    ['type integer, fraction', { type: 'integer' }, 4.2, 'body.f: must be an integer'],
    ['type integer, unsafe', { type: 'integer' }, 2 ** 53, 'body.f: must be an integer'],
    ['type integer, string in a body', { type: 'integer' }, '42', 'body.f: must be an integer'],
    ['type number', { type: 'number' }, -0.5, 'ok'],
    ['type number, string', { type: 'number' }, '1', 'body.f: must be a number'],
    ['type boolean', { type: 'boolean' }, false, 'ok'],
    ['type boolean, string in a body', { type: 'boolean' }, 'true', 'body.f: must be true or false'],
    ['type boolean, array', { type: 'boolean' }, [true], 'body.f: must be true or false'],
    // enum
    ['enum', { type: 'enum', enum: ['a', 'b', 1] }, 'b', 'ok'],
    ['enum, number', { type: 'enum', enum: ['a', 'b', 1] }, 1, 'ok'],
    ['enum, "1" is not 1 in a body', { type: 'enum', enum: ['a', 'b', 1] }, '1', 'body.f: must be one of a, b, 1'],
    ['enum, miss', { enum: ['a', 'b'] }, 'c', 'body.f: must be one of a, b'],
    ['enum, object', { enum: ['a'] }, { a: 1 }, 'body.f: must be a string, number or boolean'],
    // min / max
    ['min', { type: 'number', min: 1 }, 0.5, 'body.f: must be at least 1'],
    ['max', { type: 'integer', max: 10 }, 11, 'body.f: must be at most 10'],
    ['min/max, inside', { type: 'integer', min: 1, max: 10 }, 10, 'ok'],
    ['min/max, numeric string', { min: 1, max: 10 }, '5', 'ok'],
    ['min/max, not a number', { min: 1 }, 'abc', 'body.f: must be a number'],
    // format
    ['format email', { format: 'email' }, 'a@b.io', 'ok'],
    ['format email, bad', { format: 'email' }, 'a@b', 'body.f: must be a valid email'],
    ['format uuid', { format: 'uuid' }, '123e4567-e89b-12d3-a456-426614174000', 'ok'],
    ['format uuid, bad', { format: 'uuid' }, 'nope', 'body.f: must be a valid uuid'],
    // regex
    ['regex named', { regex: 'email' }, 'a@b.io', 'ok'],
    ['regex named, miss', { regex: 'email' }, 'a-b.io', 'body.f: must match email'],
    ['regex inline', { regex: '/^[a-z]{2}$/' }, 'ab', 'ok'],
    ['regex inline, miss', { regex: '/^[a-z]{2}$/' }, 'abc', 'body.f: must match the required pattern'],
    ['regex on a number uses its text', { regex: '/^\\d+$/' }, 123, 'ok'],
    // first failure of a field wins, in a fixed order: empty, type, enum, length, numeric, range, patterns
    ['order: length before regex', { max_length: 5, regex: 'email' }, 'x'.repeat(6), 'body.f: must be at most 5 characters'],
    ['order: type before length', { type: 'string', max_length: 1 }, 12, 'body.f: must be a string'],
  ])('%s', (_name, rule, value, expected) => {
    expect(bodyReason(rule, value)).toBe(expected);
  });

  it('ports the original login rule, and fixes its missing-mandatory bug', () => {
    const check = checker(login);
    expect(check({ body: { email: 'user@example.com', password: 'Abcdef1!' } })).toBe(NO_FIELD_ERRORS);
    expect(check({ body: {} })).toEqual([
      { field: 'body.email', reason: 'is required' },
      { field: 'body.password', reason: 'is required' },
    ]);
    expect(check({ body: { email: '', password: 'weak' } })).toEqual([
      { field: 'body.email', reason: 'must not be empty' },
      { field: 'body.password', reason: 'must match password' },
    ]);
    expect(check({ body: { email: 'user@example.com', password: 'Abcdef1!', admin: true } })).toEqual([
      { field: 'body.admin', reason: 'is not allowed' },
    ]);
  });

  it('returns the shared frozen empty array when all pass', () => {
    const check = checker(login);
    const ok = check({ body: { email: 'user@example.com', password: 'Abcdef1!' } });
    expect(ok).toBe(NO_FIELD_ERRORS);
    expect(Object.isFrozen(ok)).toBe(true);
    // and a fresh array per failing request, so a caller keeping one is not surprised later
    const a = check({ body: {} });
    const b = check({ body: { email: 'x' } });
    expect(a).not.toBe(b);
    expect(a).toHaveLength(2);
  });

  it('reports every failing field, not just the first', () => {
    const check = checker({
      body: { a: { mandatory: true }, b: { type: 'integer' }, c: { max_length: 1 }, d: { format: 'uuid' } },
    });
    expect(check({ body: { b: 'x', c: 'xx', d: 'x', e: 1 } }).map((e: FieldError) => e.field)).toEqual([
      'body.a',
      'body.b',
      'body.c',
      'body.d',
      'body.e',
    ]);
  });
});

describe('regex input is bounded', () => {
  const mega = 'a'.repeat(1024 * 1024);

  it.each<[string, FieldRule, unknown, string]>([
    ['explicit max_length', { max_length: 100, regex: 'email' }, `${mega}@example.com`, 'body.f: must be at most 100 characters'],
    ['default cap without max_length', { regex: 'email' }, `${mega}@example.com`, 'body.f: must be at most 1024 characters'],
    ['default cap for format', { format: 'email' }, `${mega}@example.com`, 'body.f: must be at most 1024 characters'],
    ['cap boundary', { regex: '/^a+$/' }, 'a'.repeat(1024), 'ok'],
    ['cap boundary + 1', { regex: '/^a+$/' }, 'a'.repeat(1025), 'body.f: must be at most 1024 characters'],
    ['explicit max_length above the cap', { regex: '/^a+$/', max_length: 5000 }, 'a'.repeat(5000), 'ok'],
    ['1 MB blank', { can_empty: false }, ' '.repeat(1024 * 1024), 'body.f: must not be empty'],
    ['1 MB numeric', { numeric: true }, `${'1'.repeat(1024 * 1024)}x`, 'body.f: must be numeric'],
  ])('%s', (_name, rule, value, expected) => {
    expect(bodyReason(rule, value)).toBe(expected);
  });

  it('never hands an over-long value to the regex', () => {
    const check = checker({ body: { f: { regex: 'spy', max_length: 10 } } }, { spy: '^a+$' });
    const lengths: number[] = [];
    const realTest = RegExp.prototype.test;
    // Record what the field's regex is asked to test; every other regex is left alone.
    RegExp.prototype.test = function (this: RegExp, input: string): boolean {
      if (this.source === '^a+$') lengths.push(String(input).length);
      return realTest.call(this, input);
    };
    try {
      expect(check({ body: { f: 'a'.repeat(11) } })).toEqual([{ field: 'body.f', reason: 'must be at most 10 characters' }]);
      expect(check({ body: { f: mega } })).toEqual([{ field: 'body.f', reason: 'must be at most 10 characters' }]);
      expect(check({ body: { f: 'aaa' } })).toBe(NO_FIELD_ERRORS);
    } finally {
      RegExp.prototype.test = realTest;
    }
    expect(lengths).toEqual([3]);
  });
});

describe('unknown fields', () => {
  it.each<[string, ParamsConfig, ParamsInput, string[]]>([
    ['body rejects by default', { body: { a: {} } }, { body: { a: 1, b: 2 } }, ['body.b: is not allowed']],
    ['body allows with unknown: allow', { body: { a: {} }, unknown: 'allow' }, { body: { a: 1, b: 2 } }, []],
    ['empty body rules accept anything', { body: {} }, { body: { x: 1 } }, []],
    ['absent body rules accept anything', {}, { body: { x: 1 } }, []],
    ['absent body rules accept a non-object', {}, { body: [1, 2] }, []],
    ['query allows by default', { query: { a: {} } }, { query: { a: '1', utm_source: 'x' } }, []],
    [
      'query rejects with unknown: reject',
      { query: { a: {} }, unknown: 'reject' },
      { query: { a: '1', b: '2' } },
      ['query.b: is not allowed'],
    ],
    [
      'query (URLSearchParams) rejects a repeated unknown key once',
      { query: { a: {} }, unknown: 'reject' },
      { query: new URLSearchParams('a=1&b=2&b=3') },
      ['query.b: is not allowed'],
    ],
    ['unknown: reject with empty query rules accepts anything', { query: {}, unknown: 'reject' }, { query: { z: '1' } }, []],
    ['path params are never unknown', { path: { id: {} }, unknown: 'reject' }, { path: { id: '1', other: 'x' } }, []],
  ])('%s', (_name, config, input, expected) => {
    expect(checker(config)(input).map((e) => `${e.field}: ${e.reason}`)).toEqual(expected);
  });

  it('names at most 20 unknown fields, then sums up the rest', () => {
    const body: Record<string, number> = { a: 1 };
    for (let i = 0; i < 1000; i++) body[`k${i}`] = i;
    const errors = checker({ body: { a: {} } })({ body });
    expect(errors).toHaveLength(21);
    expect(errors[19]).toEqual({ field: 'body.k19', reason: 'is not allowed' });
    expect(errors[20]).toEqual({ field: 'body', reason: 'has 980 more fields that are not allowed' });
  });

  it('cuts long client key names in errors', () => {
    const errors = checker({ body: { a: {} } })({ body: { ['k'.repeat(10_000)]: 1 } });
    expect(errors[0].field).toBe(`body.${'k'.repeat(64)}...`);
  });
});

describe('hostile bodies', () => {
  it.each<[string, unknown, string[]]>([
    [
      'JSON "__proto__" key is an unknown own field',
      JSON.parse('{"a":"x","__proto__":{"admin":true}}'),
      ['body.__proto__: is not allowed'],
    ],
    ['"constructor" key is an unknown own field', { a: 'x', constructor: 1 }, ['body.constructor: is not allowed']],
    ['"toString" key is an unknown own field', { a: 'x', toString: 'y' }, ['body.toString: is not allowed']],
    ['null-prototype object', Object.assign(Object.create(null), { a: 'x' }), []],
    ['array', ['a'], ['body: must be a JSON object']],
    ['string', 'a', ['body: must be a JSON object']],
    ['number', 1, ['body: must be a JSON object']],
    ['null', null, ['body: must be a JSON object']],
    ['no body at all: required fields are missing', undefined, ['body.a: is required']],
  ])('%s', (_name, body, expected) => {
    const check = checker({ body: { a: { mandatory: true } } });
    expect(check({ body }).map((e) => `${e.field}: ${e.reason}`)).toEqual(expected);
  });

  it('does not find rules named like prototype members on the prototype', () => {
    const check = checker({ body: { constructor: { mandatory: true }, __proto__x: { mandatory: true } } });
    expect(check({ body: {} }).map((e) => e.field)).toEqual(['body.constructor', 'body.__proto__x']);
    expect(check({ body: { constructor: 'c', __proto__x: 'p' } })).toBe(NO_FIELD_ERRORS);
  });

  it('keeps a rule named "__proto__" that came from JSON config', () => {
    const config = JSON.parse('{"body":{"__proto__":{"mandatory":true,"max_length":2}}}') as ParamsConfig;
    const check = checker(config);
    expect(check({ body: {} })).toEqual([{ field: 'body.__proto__', reason: 'is required' }]);
    expect(check({ body: JSON.parse('{"__proto__":"abc"}') })).toEqual([
      { field: 'body.__proto__', reason: 'must be at most 2 characters' },
    ]);
    expect(check({ body: JSON.parse('{"__proto__":"ab"}') })).toBe(NO_FIELD_ERRORS);
  });
});

describe('query and path values are text', () => {
  it.each<[string, FieldRule, string | string[] | undefined, string]>([
    ['integer "42"', { type: 'integer' }, '42', 'ok'],
    ['integer "-7"', { type: 'integer' }, '-7', 'ok'],
    ['integer "4.2"', { type: 'integer' }, '4.2', 'query.f: must be an integer'],
    ['integer "abc"', { type: 'integer' }, 'abc', 'query.f: must be an integer'],
    ['integer beyond 2^53', { type: 'integer' }, '9007199254740993', 'query.f: must be an integer'],
    ['number "1.5"', { type: 'number' }, '1.5', 'ok'],
    ['number "1e5"', { type: 'number' }, '1e5', 'query.f: must be a number'],
    ['boolean "true"', { type: 'boolean' }, 'true', 'ok'],
    ['boolean "false"', { type: 'boolean' }, 'false', 'ok'],
    ['boolean "1"', { type: 'boolean' }, '1', 'query.f: must be true or false'],
    ['boolean "TRUE"', { type: 'boolean' }, 'TRUE', 'query.f: must be true or false'],
    ['string', { type: 'string' }, '42', 'ok'],
    ['enum of numbers, by text', { type: 'enum', enum: [1, 2] }, '2', 'ok'],
    ['enum of numbers, miss', { type: 'enum', enum: [1, 2] }, '3', 'query.f: must be one of 1, 2'],
    ['enum of booleans, by text', { enum: [true] }, 'true', 'ok'],
    ['min/max on text', { type: 'integer', min: 1, max: 100 }, '101', 'query.f: must be at most 100'],
    ['mandatory, missing', { mandatory: true }, undefined, 'query.f: is required'],
    ['mandatory, "?f=" is present', { mandatory: true }, '', 'ok'],
    ['can_empty false, "?f="', { mandatory: true, can_empty: false }, '', 'query.f: must not be empty'],
    ['can_empty true, "?f=" with a type', { type: 'integer', can_empty: true }, '', 'ok'],
    ['repeated key, all pass', { type: 'integer' }, ['1', '2'], 'ok'],
    ['repeated key, one fails', { type: 'integer' }, ['1', 'x'], 'query.f: must be an integer'],
    ['repeated key, empty list is missing', { mandatory: true }, [], 'query.f: is required'],
    ['regex capped', { regex: '/^a+$/' }, 'a'.repeat(2000), 'query.f: must be at most 1024 characters'],
  ])('%s', (_name, rule, value, expected) => {
    expect(queryReason(rule, value)).toBe(expected);
  });

  it('reads URLSearchParams, every value of a repeated key', () => {
    const check = checker({ query: { page: { type: 'integer', min: 1 }, q: { mandatory: true, can_empty: false } } });
    expect(check({ query: new URLSearchParams('page=2&q=shoes') })).toBe(NO_FIELD_ERRORS);
    expect(check({ query: new URLSearchParams('page=2&page=0&q=%20') })).toEqual([
      { field: 'query.page', reason: 'must be at least 1' },
      { field: 'query.q', reason: 'must not be empty' },
    ]);
    expect(check({ query: new URLSearchParams('') })).toEqual([{ field: 'query.q', reason: 'is required' }]);
    expect(check({})).toEqual([{ field: 'query.q', reason: 'is required' }]);
  });

  it('checks path params', () => {
    const check = checker({ path: { id: { type: 'integer', min: 1 }, slug: { regex: '/^[a-z-]{1,40}$/' } } });
    expect(check({ path: { id: '7', slug: 'hello-world' } })).toBe(NO_FIELD_ERRORS);
    expect(check({ path: { id: '0', slug: 'Hello' } })).toEqual([
      { field: 'path.id', reason: 'must be at least 1' },
      { field: 'path.slug', reason: 'must match the required pattern' },
    ]);
  });

  it('checks body, query and path together', () => {
    const check = checker({ body: { a: { mandatory: true } }, query: { b: { mandatory: true } }, path: { c: { type: 'integer' } } });
    expect(check({ body: {}, query: {}, path: { c: 'x' } }).map((e) => e.field)).toEqual(['body.a', 'query.b', 'path.c']);
  });
});

describe('compile problems', () => {
  it.each<[string, ParamsConfig, { path: string; message: string | RegExp }[]]>([
    ['unknown pattern', { body: { email: { regex: 'emial' } } }, [{ path: 'body.email.regex', message: /^unknown pattern "emial"/ }]],
    [
      'catastrophic regex',
      { query: { q: { regex: '/(a+)+$/' } } },
      [
        {
          path: 'query.q.regex',
          message:
            'regex "/(a+)+$/" may backtrack catastrophically (a quantified group contains a quantifier, or more than 25 quantifiers)',
        },
      ],
    ],
    ['invalid regex', { path: { id: { regex: '/([/' } } }, [{ path: 'path.id.regex', message: /^regex "\/\(\[\/" is invalid/ }]],
    [
      'enum type without a list',
      { body: { f: { type: 'enum' } } },
      [{ path: 'body.f.enum', message: 'a list of values is required when type is "enum"' }],
    ],
    [
      'enum value of the wrong type',
      { body: { f: { type: 'integer', enum: [1, 'two'] } } },
      [{ path: 'body.f.enum', message: '"two" is not of type integer' }],
    ],
    ['min above max', { body: { f: { min: 5, max: 1 } } }, [{ path: 'body.f.min', message: 'is greater than max (1)' }]],
    [
      'minLength above max_length',
      { body: { f: { minLength: 5, max_length: 1 } } },
      [{ path: 'body.f.minLength', message: 'is greater than max_length (1)' }],
    ],
    [
      'min on a string type',
      { body: { f: { type: 'string', min: 1 } } },
      [{ path: 'body.f.min', message: 'applies to numbers, but type is "string"' }],
    ],
    [
      'every problem at once',
      { body: { a: { regex: 'nope' } }, query: { b: { regex: '/(x+x+)+y/' } } },
      [
        { path: 'body.a.regex', message: /^unknown pattern/ },
        { path: 'query.b.regex', message: /may backtrack catastrophically/ },
      ],
    ],
  ])('%s', (_name, config, expected) => {
    const compiled = compileParams(config);
    expect('problems' in compiled).toBe(true);
    if (!('problems' in compiled)) return;
    expect(compiled.problems).toHaveLength(expected.length);
    compiled.problems.forEach((p, i) => {
      expect(p.path).toBe(expected[i].path);
      if (typeof expected[i].message === 'string') expect(p.message).toBe(expected[i].message);
      else expect(p.message).toMatch(expected[i].message);
    });
  });

  it('compiles the original api-rules parameters', () => {
    expect('check' in compileParams(login)).toBe(true);
    expect('check' in compileParams({ body: {} })).toBe(true);
  });
});
