/**
 * Regular expressions in a tenant's arguments schema (`pattern`,
 * `patternProperties`) run in the gateway process against arguments a model
 * wrote, and a model can be led by a customer. JavaScript regular
 * expressions have no time limit, so a pattern with a quantified group that
 * itself holds a quantifier (`(a+)+`, `(\w*\s?)*`) can take exponential time
 * on a short string and stall every tenant's turns. Such patterns are refused
 * when a tool is saved: a heuristic (star height above one), not a proof,
 * that catches the classic catastrophic forms.
 */
export function nestedQuantifier(pattern: string): boolean {
  // One entry per open group: whether a quantifier appeared inside it.
  const groups: boolean[] = [];
  let i = 0;
  const quantifierAt = (j: number): boolean => {
    const c = pattern[j];
    if (c === '*' || c === '+') return true;
    if (c !== '{') return false;
    // {n,} and {n,m} with m > 1 repeat; {n} and {0,1} do not multiply paths much.
    const m = /^\{(\d+)(,(\d*))?\}/.exec(pattern.slice(j));
    if (!m) return false;
    if (m[2] === undefined) return false;
    return m[3] === '' || Number(m[3]) > 1;
  };
  const markInner = () => {
    if (groups.length) groups[groups.length - 1] = true;
  };
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === '\\') {
      i += 2;
      continue;
    }
    if (c === '[') {
      // A character class: skip to its end (escapes included).
      i++;
      while (i < pattern.length && pattern[i] !== ']') i += pattern[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === '(') {
      groups.push(false);
      i++;
      continue;
    }
    if (c === ')') {
      const inner = groups.pop() ?? false;
      i++;
      if (quantifierAt(i)) {
        if (inner) return true;
        markInner();
      } else if (inner) markInner();
      continue;
    }
    if (quantifierAt(i)) markInner();
    i++;
  }
  return false;
}

/** Every `pattern` and `patternProperties` key anywhere in a schema, with where it is. */
export function schemaPatterns(schema: unknown, path = 'parameters'): { path: string; pattern: string }[] {
  const out: { path: string; pattern: string }[] = [];
  const walk = (v: unknown, at: string) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'pattern' && typeof x === 'string') out.push({ path: `${at}.pattern`, pattern: x });
        if (k === 'patternProperties' && x && typeof x === 'object') for (const p of Object.keys(x)) out.push({ path: `${at}.patternProperties`, pattern: p });
        walk(x, `${at}.${k}`);
      }
    }
  };
  walk(schema, path);
  return out;
}
