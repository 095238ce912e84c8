const MAX_DEPTH = 64;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** One value still to look at, and how it was reached (walked back only to name a refused one). */
interface Visit {
  value: unknown;
  depth: number;
  parent: Visit | null;
  key: string;
}

/**
 * Rejects what PostgreSQL or the pipeline cannot take safely, in every JSON
 * body, query string and path the gateway reads: NUL characters (text and
 * jsonb cannot hold them), lone UTF-16 surrogates (valid JSON, not valid
 * Unicode: jsonb and UTF-8 text refuse them), in values and keys alike, and
 * nesting deeper than any request of ours or Meta's needs. Iterative, so a
 * hostile depth cannot overflow the stack.
 *
 * Returns null, or why the value is refused, prefixed with where it is
 * (`body.agent.systemPrompt: …`; `root` names the value itself).
 */
export function checkJson(value: unknown, root = ''): string | null {
  const stack: Visit[] = [{ value, depth: 1, parent: null, key: root }];
  while (stack.length > 0) {
    const visit = stack.pop()!;
    const v = visit.value;
    if (typeof v === 'string') {
      const reason = badText(v);
      if (reason) return refusal(visit, `strings ${reason}`);
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (visit.depth > MAX_DEPTH) return refusal(visit, `nested deeper than ${MAX_DEPTH} levels`);
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ value: v[i], depth: visit.depth + 1, parent: visit, key: String(i) });
    } else {
      for (const [k, x] of Object.entries(v)) {
        const reason = badText(k);
        if (reason) return refusal(visit, `keys ${reason}`);
        stack.push({ value: x, depth: visit.depth + 1, parent: visit, key: k });
      }
    }
  }
  return null;
}

function badText(s: string): string | null {
  if (s.includes('\u0000')) return 'must not contain NUL characters';
  if (LONE_SURROGATE.test(s)) return 'must be well-formed Unicode (no lone surrogate)';
  return null;
}

function refusal(visit: Visit, reason: string): string {
  const keys: string[] = [];
  for (let at: Visit | null = visit; at; at = at.parent) if (at.key !== '') keys.push(at.key.length > 40 ? at.key.slice(0, 40) + '…' : at.key);
  // A refused key is named only by where it is: echoing it back would echo the NUL.
  return keys.length > 0 ? `${keys.reverse().join('.')}: ${reason}` : reason;
}
