// IP parsing, CIDR lists and allow/deny rules, IPv4, IPv6 and IPv4-mapped, with the edges.
import { describe, expect, it } from 'vitest';
import { compileIpList, compileIpRules, parseIp } from '../../src/rules/ip.ts';

function list(entries: string[]): (ip: string) => boolean {
  const compiled = compileIpList(entries);
  if ('problems' in compiled) throw new Error(compiled.problems.join('; '));
  return compiled.match;
}

function rules(allow?: string[], deny?: string[]): (ip: string) => boolean {
  const compiled = compileIpRules({ allow, deny });
  if ('problems' in compiled) throw new Error(compiled.problems.join('; '));
  return compiled.check;
}

const hex = (w: number[]) => w.map((x) => x.toString(16).padStart(8, '0')).join(' ');

describe('parseIp', () => {
  it.each<[string, 4 | 6, string]>([
    ['0.0.0.0', 4, '00000000 00000000 0000ffff 00000000'],
    ['255.255.255.255', 4, '00000000 00000000 0000ffff ffffffff'],
    ['192.0.2.1', 4, '00000000 00000000 0000ffff c0000201'],
    ['::ffff:192.0.2.1', 4, '00000000 00000000 0000ffff c0000201'],
    ['::FFFF:c000:0201', 4, '00000000 00000000 0000ffff c0000201'],
    ['::', 6, '00000000 00000000 00000000 00000000'],
    ['::1', 6, '00000000 00000000 00000000 00000001'],
    ['1::', 6, '00010000 00000000 00000000 00000000'],
    ['2001:db8::1', 6, '20010db8 00000000 00000000 00000001'],
    ['2001:DB8:0:0:8:800:200C:417A', 6, '20010db8 00000000 00080800 200c417a'],
    ['1:2:3:4:5:6:7::', 6, '00010002 00030004 00050006 00070000'],
    ['::2:3:4:5:6:7:8', 6, '00000002 00030004 00050006 00070008'],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 6, 'ffffffff ffffffff ffffffff ffffffff'],
    ['fe80::1%eth0', 6, 'fe800000 00000000 00000000 00000001'],
    ['fe80::1%25', 6, 'fe800000 00000000 00000000 00000001'],
    ['64:ff9b::192.0.2.1', 6, '0064ff9b 00000000 00000000 c0000201'],
    ['::1.2.3.4', 6, '00000000 00000000 00000000 01020304'], // IPv4-compatible (deprecated): not IPv4
  ])('%s', (text, v, words) => {
    const ip = parseIp(text);
    expect(ip?.v).toBe(v);
    expect(hex(ip?.words ?? [])).toBe(words);
  });

  it.each([
    '',
    'unknown',
    '1.2.3',
    '1.2.3.4.5',
    '256.0.0.1',
    '1.2.3.-1',
    '01.2.3.4', // leading zero: octal to some parsers
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1.2.3.4/32',
    '1..2.3',
    '0x7f.0.0.1',
    '1.2.3.4%eth0',
    ':',
    ':::',
    ':1',
    '1:',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '1::2::3',
    '1:2:3:4:5:6:7:8::',
    '12345::',
    'g::1',
    '::ffff:1.2.3',
    '::ffff:256.1.1.1',
    '1.2.3.4::',
    '1:2:3:4:5:6:7:1.2.3.4',
    'fe80::1%',
    '[::1]',
    'a'.repeat(10_000),
  ])('refuses %j', (text) => {
    expect(parseIp(text)).toBeUndefined();
  });
});

describe('compileIpList', () => {
  it.each<[string, string[], string, boolean]>([
    ['/8 inside', ['10.0.0.0/8'], '10.255.1.2', true],
    ['/8 outside', ['10.0.0.0/8'], '11.0.0.0', false],
    ['/8 lower edge', ['10.0.0.0/8'], '10.0.0.0', true],
    ['/8 below', ['10.0.0.0/8'], '9.255.255.255', false],
    ['/32 exact', ['192.0.2.7/32'], '192.0.2.7', true],
    ['/32 neighbour', ['192.0.2.7/32'], '192.0.2.8', false],
    ['bare address', ['192.0.2.7'], '192.0.2.7', true],
    ['/0 matches every IPv4', ['0.0.0.0/0'], '203.0.113.9', true],
    ['/0 IPv4 does not match IPv6', ['0.0.0.0/0'], '2001:db8::1', false],
    ['/31', ['192.0.2.6/31'], '192.0.2.7', true],
    ['/1 high half', ['128.0.0.0/1'], '255.255.255.255', true],
    ['/1 low half', ['128.0.0.0/1'], '127.255.255.255', false],
    ['mapped client matches an IPv4 rule', ['10.0.0.0/8'], '::ffff:10.1.2.3', true],
    ['mapped client (hex) matches an IPv4 rule', ['10.0.0.0/8'], '::ffff:a01:203', true],
    ['mapped rule matches an IPv4 client', ['::ffff:10.0.0.0/104'], '10.9.9.9', true],
    ['mapped rule /128', ['::ffff:192.0.2.7/128'], '192.0.2.7', true],
    ['mapped rule /96 is every IPv4', ['::ffff:0:0/96'], '8.8.8.8', true],
    ['IPv6 /32 inside', ['2001:db8::/32'], '2001:db8:ffff::1', true],
    ['IPv6 /32 outside', ['2001:db8::/32'], '2001:db9::1', false],
    ['IPv6 /128 exact', ['2001:db8::1/128'], '2001:db8::1', true],
    ['IPv6 /128 neighbour', ['2001:db8::1/128'], '2001:db8::2', false],
    ['IPv6 bare address', ['::1'], '::1', true],
    ['IPv6 /0 matches every IPv6', ['::/0'], 'fe80::1', true],
    ['IPv6 /0 does not match IPv4', ['::/0'], '1.2.3.4', false],
    ['IPv6 /0 does not match mapped IPv4', ['::/0'], '::ffff:1.2.3.4', false],
    ['IPv6 /64 with zone id on the client', ['fe80::/64'], 'fe80::abcd%eth0', true],
    ['IPv6 /127', ['2001:db8::/127'], '2001:db8::1', true],
    ['IPv6 /65 edge', ['2001:db8::/65'], '2001:db8::8000:0:0:0', false],
    ['IPv6 /65 inside', ['2001:db8::/65'], '2001:db8::7fff:ffff:ffff:ffff', true],
    ['IPv6 uppercase', ['2001:DB8::/32'], '2001:db8::1', true],
    ['several entries', ['10.0.0.0/8', '192.168.0.0/16', '2001:db8::/32'], '192.168.7.1', true],
    ['empty list', [], '10.0.0.1', false],
    ['unparseable client', ['0.0.0.0/0', '::/0'], 'unknown', false],
    ['empty client', ['0.0.0.0/0'], '', false],
  ])('%s', (_name, entries, ip, expected) => {
    expect(list(entries)(ip)).toBe(expected);
  });

  it.each<[string, string]>([
    ['10.0.0.0/33', '"10.0.0.0/33" is not a valid address or CIDR'],
    ['2001:db8::/129', '"2001:db8::/129" is not a valid address or CIDR'],
    ['10.0.0.0/', '"10.0.0.0/" is not a valid address or CIDR'],
    ['10.0.0.0/08', '"10.0.0.0/08" is not a valid address or CIDR'],
    ['10.0.0.0/8/8', '"10.0.0.0/8/8" is not a valid address or CIDR'],
    ['10.0.0.0/-1', '"10.0.0.0/-1" is not a valid address or CIDR'],
    ['10/8', '"10/8" is not a valid address or CIDR'],
    ['localhost', '"localhost" is not a valid address or CIDR'],
    ['fe80::1%eth0', '"fe80::1%eth0" is not a valid address or CIDR'],
    ['10.1.2.3/8', '"10.1.2.3/8" has bits set after the prefix length (did you mean "10.0.0.0/8"?)'],
    ['2001:db8::1/32', '"2001:db8::1/32" has bits set after the prefix length (did you mean "2001:db8::/32"?)'],
    ['::ffff:10.1.0.0/104', '"::ffff:10.1.0.0/104" has bits set after the prefix length (did you mean "::ffff:10.0.0.0/104"?)'],
  ])('refuses %s', (entry, message) => {
    expect(compileIpList([entry])).toEqual({ problems: [message] });
  });

  it('reports every invalid entry', () => {
    expect(compileIpList(['10.0.0.0/8', 'nope', '::1', '1.2.3.4/40'])).toEqual({
      problems: ['"nope" is not a valid address or CIDR', '"1.2.3.4/40" is not a valid address or CIDR'],
    });
  });

  it('works as a detached function', () => {
    const compiled = compileIpList(['10.0.0.0/8']);
    if ('problems' in compiled) throw new Error('unexpected');
    const { match } = compiled;
    expect(match('10.0.0.1')).toBe(true);
  });
});

describe('compileIpRules', () => {
  it.each<[string, string[] | undefined, string[] | undefined, string, boolean]>([
    ['no lists: everyone', undefined, undefined, '1.2.3.4', true],
    ['no lists: even unknown', [], [], 'unknown', true],
    ['allow only: listed', ['10.0.0.0/8'], undefined, '10.1.1.1', true],
    ['allow only: not listed', ['10.0.0.0/8'], undefined, '11.1.1.1', false],
    ['allow only: unparseable is refused', ['10.0.0.0/8'], undefined, 'unknown', false],
    ['deny only: listed', undefined, ['203.0.113.0/24'], '203.0.113.5', false],
    ['deny only: not listed', undefined, ['203.0.113.0/24'], '198.51.100.1', true],
    ['deny only: unparseable passes', undefined, ['0.0.0.0/0', '::/0'], 'unknown', true],
    ['deny wins over allow', ['10.0.0.0/8'], ['10.0.0.13'], '10.0.0.13', false],
    ['allow around a deny', ['10.0.0.0/8'], ['10.0.0.13'], '10.0.0.14', true],
    ['deny everything IPv6, IPv4 allowed', undefined, ['::/0'], '1.2.3.4', true],
    ['deny everything IPv6', undefined, ['::/0'], '2001:db8::1', false],
    ['mapped client denied by an IPv4 rule', undefined, ['192.0.2.0/24'], '::ffff:192.0.2.1', false],
    ['IPv6 allow, IPv4 client', ['2001:db8::/32'], undefined, '10.0.0.1', false],
    ['IPv6 allow, IPv6 client', ['2001:db8::/32'], undefined, '2001:db8::5', true],
  ])('%s', (_name, allow, deny, ip, expected) => {
    expect(rules(allow, deny)(ip)).toBe(expected);
  });

  it('names the list of each invalid entry', () => {
    expect(compileIpRules({ allow: ['10.0.0.0/33'], deny: ['1.2.3.4', 'x'] })).toEqual({
      problems: ['allow entry "10.0.0.0/33" is not a valid address or CIDR', 'deny entry "x" is not a valid address or CIDR'],
    });
  });

  it('matches many entries', () => {
    const entries = Array.from({ length: 1000 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const check = rules(undefined, entries);
    expect(check('10.3.231.77')).toBe(false); // i = 999
    expect(check('10.3.232.1')).toBe(true);
  });
});
