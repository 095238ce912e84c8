import { describe, expect, it } from 'vitest';
import { nestedQuantifier, schemaPatterns } from '../../src/tenancy/toolSchemaSafety.ts';

describe('patterns that can take exponential time are found before a tool is saved', () => {
  it.each(['^(a+)+$', '(a*)*', '^(\\w+\\s?)*$', '(x+x+)+y', '((ab)*c)+', '(a{1,5}){2,}', '(?:a+)+'])('%s repeats a repeating group', (p) => {
    expect(nestedQuantifier(p)).toBe(true);
  });

  it.each(['^[0-9]{3,12}$', '^(\\d{3}-)?\\d+$', '^[a-z]+(-[a-z]+)?$', '[(a+)+]', '\\(a+\\)+', '^(ab|cd)$', '^(a){3}$', '^[A-Z]{2}\\d+$'])('%s is fine', (p) => {
    expect(nestedQuantifier(p)).toBe(false);
  });

  it('finds every pattern of a schema, patternProperties included', () => {
    const found = schemaPatterns({ type: 'object', properties: { a: { type: 'string', pattern: 'x+' }, b: { type: 'array', items: { pattern: 'y' } } }, patternProperties: { '^z': {} } });
    expect(found).toEqual([
      { path: 'parameters.properties.a.pattern', pattern: 'x+' },
      { path: 'parameters.properties.b.items.pattern', pattern: 'y' },
      { path: 'parameters.patternProperties', pattern: '^z' },
    ]);
  });
});
