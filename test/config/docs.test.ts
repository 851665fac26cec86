// The shipped JSON Schema and the README's config reference stay in step with the zod schema.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { configJsonSchema } from '../../src/config/json-schema.ts';
import { codes } from '../../src/errors.ts';

const root = new URL('../../', import.meta.url);
type Node = { properties?: Record<string, Node>; items?: Node; anyOf?: Node[]; oneOf?: Node[] };
const generated = configJsonSchema() as Node;

describe('config docs', () => {
  it('schema/edgegate.schema.json is the generated schema (run `npm run schema`)', () => {
    const shipped = JSON.parse(readFileSync(new URL('schema/edgegate.schema.json', root), 'utf8'));
    expect(shipped).toEqual(JSON.parse(JSON.stringify(generated)));
  });

  it('the README reference names every top-level, upstream and route field', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const reference = readme.slice(readme.indexOf('### Reference'), readme.indexOf('## Rules'));
    const props = (n: Node | undefined) => Object.keys(n?.properties ?? {});
    const fields = [
      ...props(generated).filter((f) => f !== '$schema'),
      ...props(generated.properties?.server).map((f) => `server.${f}`),
      ...props(generated.properties?.upstreams && (generated.properties.upstreams as { additionalProperties?: Node }).additionalProperties),
      ...props(generated.properties?.routes?.items),
    ];
    expect(fields.length).toBeGreaterThan(20);
    const missing = fields.filter((f) => !reference.includes(`\`${f}\``) && !reference.includes(`\`${f}.`));
    expect(missing).toEqual([]);
  });

  it('the README error table lists every code with its status and message', () => {
    const readme = readFileSync(new URL('README.md', root), 'utf8');
    const missing = Object.values(codes).filter((c) => !readme.includes(`| ${c.status} | ${c.code} | ${c.message} |`));
    expect(missing).toEqual([]);
  });
});
