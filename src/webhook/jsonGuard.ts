const MAX_DEPTH = 64;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Rejects what PostgreSQL or the pipeline cannot take safely: nesting deeper
 * than Meta ever sends, and NUL characters (text and jsonb cannot hold them).
 * Iterative, so a hostile depth cannot overflow the stack. Returns the reason, or null.
 */
export function checkJson(value: unknown): string | null {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\u0000')) return 'strings must not contain NUL characters';
      // A lone UTF-16 surrogate is valid JSON but not valid Unicode: jsonb refuses it.
      if (LONE_SURROGATE.test(v)) return 'strings must be well-formed Unicode (lone surrogate)';
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth > MAX_DEPTH) return `nested deeper than ${MAX_DEPTH} levels`;
    if (Array.isArray(v)) {
      for (const x of v) stack.push([x, depth + 1]);
    } else {
      for (const [k, x] of Object.entries(v)) {
        if (k.includes('\u0000') || LONE_SURROGATE.test(k)) return 'keys must not contain NUL characters or lone surrogates';
        stack.push([x, depth + 1]);
      }
    }
  }
  return null;
}
