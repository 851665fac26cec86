// Named patterns: the original's email/password, inline regexes, and the catastrophic-backtracking gate.
import safeRegex from 'safe-regex2';
import { describe, expect, it } from 'vitest';
import { builtinPatterns, checkNamedPatterns, compilePattern } from '../../src/rules/patterns.ts';

function compiled(spec: string, named?: Record<string, string>): RegExp {
  const re = compilePattern(spec, named);
  if (typeof re === 'string') throw new Error(re);
  return re;
}

describe('built-in patterns', () => {
  it('keeps the original gateway email and password patterns exactly', () => {
    expect(builtinPatterns.email).toBe('^\\w+((-\\w+)|(\\.\\w+))*\\@[A-Za-z0-9]+((\\.|-)[A-Za-z0-9]+)*\\.[A-Za-z]+$');
    expect(builtinPatterns.password).toBe('^(?=.*[a-z])(?=.*[A-Z])(?=.*\\d)(?=.*[@$!%*?&])[A-Za-z\\d@$!%*?&]{8,10}$');
  });

  it.each([
    ['email', 'user@example.com', true],
    ['email', 'first.last@example.co.uk', true],
    ['email', 'first-last@sub-domain.example.org', true],
    ['email', 'user_1@example.io', true],
    ['email', 'user+tag@example.com', false], // the original pattern has no "+" in the local part
    ['email', 'user@example', false],
    ['email', '@example.com', false],
    ['email', 'user@@example.com', false],
    ['email', 'user@.example.com', false],
    ['email', 'user.@example.com', false],
    ['email', 'user@example.c0m', false],
    ['email', '', false],
    ['password', 'Abcdef1!', true],
    ['password', 'Zz9@Zz9@Zz', true],
    ['password', 'Abcde1!', false], // 7: too short
    ['password', 'Abcdefgh1!x', false], // 11: too long
    ['password', 'abcdef1!', false], // no upper case
    ['password', 'ABCDEF1!', false], // no lower case
    ['password', 'Abcdefg!', false], // no digit
    ['password', 'Abcdefg1', false], // no special
    ['password', 'Abcdef1#', false], // "#" is not in the allowed set
    ['uuid', '123e4567-e89b-12d3-a456-426614174000', true],
    ['uuid', '123E4567-E89B-12D3-A456-426614174000', true],
    ['uuid', '123e4567e89b12d3a456426614174000', false],
    ['uuid', '123e4567-e89b-12d3-a456-42661417400g', false],
    ['numeric', '42', true],
    ['numeric', '-3.14', true],
    ['numeric', '3.', false],
    ['numeric', '.5', false],
    ['numeric', '1e5', false],
    ['integer', '-7', true],
    ['integer', '7.0', false],
    ['alphanumeric', 'abcXYZ019', true],
    ['alphanumeric', 'abc-1', false],
    ['hex', 'deadBEEF', true],
    ['hex', 'xyz', false],
  ])('%s %j → %s', (name, input, ok) => {
    expect(compiled(name).test(input)).toBe(ok);
  });

  it('is honest about the built-ins safe-regex2 flags (trusted, linear, length-capped; see patterns.ts)', () => {
    // If this changes, revisit the comment on builtinPatterns.
    const flagged = Object.entries(builtinPatterns)
      .filter(([, source]) => !safeRegex(source))
      .map(([name]) => name);
    expect(flagged).toEqual(['email', 'numeric']);
  });
});

describe('compilePattern', () => {
  it.each([
    ['/^[a-z]+$/', 'abc', true],
    ['/^[a-z]+$/', 'ABC', false],
    ['/^[a-z]+$/i', 'ABC', true],
    ['/^a.b$/s', 'a\nb', true],
    ['/^\\/api\\/v\\d$/', '/api/v1', true], // slashes inside the source
    ['/\\p{L}+/u', 'é', true],
  ])('inline %s on %j → %s', (spec, input, ok) => {
    expect(compiled(spec).test(input)).toBe(ok);
  });

  it('uses config-named patterns, bare or /source/flags, before the built-ins', () => {
    const named = { sku: '^[A-Z]{3}-\\d{4}$', shout: '/^[a-z]+$/i', email: '^x$' };
    expect(compiled('sku', named).test('ABC-1234')).toBe(true);
    expect(compiled('sku', named).test('abc-1234')).toBe(false);
    expect(compiled('shout', named).test('HEY')).toBe(true);
    expect(compiled('email', named).test('x')).toBe(true);
  });

  it('does not find names on the prototype', () => {
    expect(compilePattern('constructor', {})).toMatch(/^unknown pattern "constructor"/);
    expect(compilePattern('__proto__', {})).toMatch(/^unknown pattern "__proto__"/);
  });

  it.each([
    ['/(a+)+$/', 'regex "/(a+)+$/" may backtrack catastrophically'],
    ['/^(a|aa)*+$/', 'regex "/^(a|aa)*+$/" is invalid'],
    ['/(x+x+)+y/', 'regex "/(x+x+)+y/" may backtrack catastrophically'],
    ['/^(\\w+\\s?)*$/', 'may backtrack catastrophically'],
    ['/([a-z]+)*@/', 'may backtrack catastrophically'],
    ['/(?<=a)b/', 'uses lookbehind, which the backtracking check cannot analyse'],
    ['/(/', 'regex "/(/" is invalid'],
    ['/abc/x', 'regex "/abc/x" is invalid'],
    ['/abc/g', 'flags "g" and "y" are not supported'],
    ['/abc/y', 'flags "g" and "y" are not supported'],
    ['/abc', 'regex "/abc" is not written as "/source/flags"'],
    ['//', 'is not written as "/source/flags"'],
    ['nosuch', 'unknown pattern "nosuch" (known: email, password, uuid'],
    ['^[a-z]+$', 'unknown pattern "^[a-z]+$"'],
  ])('refuses %s', (spec, message) => {
    const result = compilePattern(spec, {});
    expect(typeof result).toBe('string');
    expect(result).toContain(message);
  });

  it('checks config-named patterns like inline ones (only built-ins are trusted)', () => {
    const named = { bad: '(a+)+$', email2: builtinPatterns.email, ok: '^\\d{3}$' };
    expect(compilePattern('bad', named)).toBe(
      'pattern "bad" ("(a+)+$") may backtrack catastrophically (a quantified group contains a quantifier, or more than 25 quantifiers)',
    );
    expect(compilePattern('email2', named)).toMatch(/may backtrack catastrophically/);
    expect(checkNamedPatterns(named).map((p) => p.path)).toEqual(['bad', 'email2']);
  });
});
