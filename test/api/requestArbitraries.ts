import fc from 'fast-check';
import { z } from 'zod';
import type { RouteSpec } from '../../src/api/routeSpec.ts';

/**
 * fast-check arbitraries of hostile requests to one route of the operator
 * API, built from the route's own schemas (its path parameters, query fields
 * and body fields by their real names). Most requests fit the schemas but in
 * one place, so what is wrong there gets past every other check to the
 * handler and the database; the rest are hostile throughout. What is wrong:
 * NUL characters, lone surrogates, huge strings, numbers for strings, nested
 * objects, arrays, null, unknown keys, repeated query fields, malformed
 * percent-escapes and malformed JSON.
 */

/** A value the URL carries as given (already encoded, or deliberately malformed), not to be encoded again. */
interface Raw {
  raw: string;
}
type UrlText = string | Raw;

export interface HostileRequest {
  method: string;
  /** The path with its parameters filled in and encoded. */
  path: string;
  /** The query string without `?`, or ''. */
  query: string;
  /** The bytes of the body, or undefined: none. */
  body: string | undefined;
  contentType: string | undefined;
  key: 'admin' | 'tenant' | 'none';
}

/** Real ids of rows the test set up, by the name of the parameter or query field that takes them. */
export type KnownIds = Record<string, string>;

type JsonSchema = {
  type?: string;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  description?: string;
};

/** Who a fitting value is for: fields the schema describes as the admin key's are left out of the tenant's. */
type Caller = 'admin' | 'tenant';

const anyCodeUnit = fc.integer({ min: 0, max: 0xffff }).map((n) => String.fromCharCode(n));

/** Strings no well-behaved client sends, short enough for a URL. */
const hostileShortString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', '\udfff', 'x\udc00\ud800y', '', ' ', '\u2028', '🚲', '%00', '\\u0000', "'; DROP TABLE tenants; --", '<script>', '0', '-1', '1e400'),
  // Any UTF-16 code units: NULs and halves of surrogate pairs included.
  fc.string({ unit: anyCodeUnit, maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

/** Strings no well-behaved client sends, huge ones included (the body limit is 1 MiB). */
const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 5, arbitrary: hostileShortString },
  { weight: 1, arbitrary: fc.integer({ min: 201, max: 1_100_000 }).map((n) => 'x'.repeat(n)) },
);

function nested(depth: number): unknown {
  let v: unknown = 'deep';
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
}

/** A JSON value of the wrong kind, or of the right kind but out of bounds. */
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  hostileString,
  fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, [], {}),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer({ min: 2, max: 3000 }).map(nested),
  fc.jsonValue({ maxDepth: 3, stringUnit: anyCodeUnit }),
);

/** Values that fit `s`, without URLs (saving one would look the host up in DNS). */
function fitting(s: JsonSchema, caller: Caller = 'admin'): fc.Arbitrary<unknown> {
  if (s.anyOf) return fc.oneof(...s.anyOf.map((a) => fitting(a, caller)));
  if (s.enum) return fc.constantFrom(...s.enum);
  switch (s.type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({ min: s.minimum ?? -1000, max: s.maximum ?? 1000 });
    case 'number':
      return fc.double({ min: s.minimum ?? -1000, max: s.maximum ?? 1000, noNaN: true });
    case 'string':
      if (s.format === 'uri') return fc.constant(null);
      if (s.pattern) return fc.stringMatching(new RegExp(s.pattern));
      return fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 60, 60) });
    case 'array':
      return fc.array(s.items ? fitting(s.items, caller) : fc.jsonValue({ maxDepth: 1 }), { maxLength: 4 });
    case 'object': {
      // The required fields and one to three others: a request that sets everything at once is
      // mostly refused for one rule or another before its strings reach the database.
      const props = s.properties ?? {};
      const required = s.required ?? [];
      const optional = Object.keys(props).filter((k) => !required.includes(k) && !(caller === 'tenant' && props[k].description === 'admin key only'));
      return fc
        .subarray(optional, { minLength: Math.min(1, optional.length), maxLength: Math.min(3, optional.length) })
        .chain((picked) => fc.record(Object.fromEntries([...required, ...picked].map((k) => [k, fitting(props[k], caller)]))));
    }
    default:
      return hostileValue;
  }
}

/** NUL twice as likely as each half of a pair: PostgreSQL's text refuses only NUL (pg sends a lone half as U+FFFD), jsonb both. */
const BAD_CHARACTERS = ['\u0000', '\u0000', '\ud800', '\udc00'];

type Path = (string | number)[];

/** The paths of every value inside `v` (not `v` itself). */
function pathsIn(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  if (v === null || typeof v !== 'object') return out;
  for (const [k, x] of Array.isArray(v) ? v.entries() : Object.entries(v)) {
    const p = [...at, k];
    out.push(p);
    pathsIn(x, p, out);
  }
  return out;
}

/** `v` with the value at `path` replaced by `f` of it (copies on the way down, `v` is not changed). */
function replaceAt(v: unknown, path: Path, f: (old: unknown) => unknown): unknown {
  if (path.length === 0) return f(v);
  const [k, ...rest] = path;
  const copy = (Array.isArray(v) ? [...v] : { ...(v as object) }) as Record<string | number, unknown>;
  copy[k] = replaceAt(copy[k], rest, f);
  return copy;
}

/**
 * One change that makes a fitting value hostile: a NUL or half a surrogate
 * pair put inside one of its strings, one of its values swapped for a
 * hostile one, or a key it does not know. Most requests then differ from a
 * valid one in one place, so the handlers and the database get to see it.
 */
type Mutation = { kind: 'none' } | { kind: 'badCharacter'; pick: number; at: number; char: string } | { kind: 'replace'; pick: number; value: unknown } | { kind: 'extraKey'; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 2, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('badCharacter' as const), pick: fc.nat(), at: fc.nat(), char: fc.constantFrom(...BAD_CHARACTERS) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('replace' as const), pick: fc.nat(), value: hostileValue }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('extraKey' as const), key: hostileString, value: hostileValue }) },
);

function mutate(v: unknown, m: Mutation): unknown {
  if (m.kind === 'none') return v;
  if (m.kind === 'extraKey') return v !== null && typeof v === 'object' && !Array.isArray(v) ? { ...v, [m.key]: m.value } : m.value;
  const paths = [[], ...pathsIn(v)];
  if (m.kind === 'replace') return replaceAt(v, paths[m.pick % paths.length], () => m.value);
  const strings = paths.filter((p) => typeof get(v, p) === 'string');
  if (strings.length === 0) {
    // No string to spoil: a value inside becomes one that holds the bad character (the whole body, when it is empty).
    const inside = paths.length > 1 ? paths.slice(1) : paths;
    return replaceAt(v, inside[m.pick % inside.length], () => `x${m.char}`);
  }
  return replaceAt(v, strings[m.pick % strings.length], (old) => {
    const s = old as string;
    const i = m.at % (s.length + 1);
    return s.slice(0, i) + m.char + s.slice(i);
  });
}

function get(v: unknown, path: Path): unknown {
  return path.reduce<unknown>((x, k) => (x as Record<string | number, unknown>)[k], v);
}

/** A value of schema `s` with at most one hostile change. */
function nearlyFitting(s: JsonSchema, caller: Caller): fc.Arbitrary<unknown> {
  return fc.tuple(fitting(s, caller), mutation).map(([v, m]) => mutate(v, m));
}

function schemaOf(t: z.ZodType | undefined): JsonSchema | undefined {
  return t ? (z.toJSONSchema(t, { io: 'input', unrepresentable: 'any' }) as JsonSchema) : undefined;
}

/** Percent-encodes UTF-16 text; a lone surrogate becomes the bytes of its code unit (never valid UTF-8). */
export function encodeUrlText(t: UrlText): string {
  if (typeof t !== 'string') return t.raw;
  let out = '';
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < t.length && t.charCodeAt(i + 1) >= 0xdc00 && t.charCodeAt(i + 1) <= 0xdfff;
    if (pair) {
      out += encodeURIComponent(t.slice(i, i + 2));
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      out += [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)].map((b) => '%' + b.toString(16).toUpperCase()).join('');
    } else {
      out += encodeURIComponent(t[i]);
    }
  }
  return out;
}

const malformedEscape: fc.Arbitrary<Raw> = fc.constantFrom('%', '%zz', '%E0%A4%A', '%C0%80', '%ED%A0%80', '%FF', '%%00', '%u0000').map((raw) => ({ raw }));

/** A value that fits a path parameter or query field: the real id for an id field, else one its schema takes. */
function fittingText(name: string, s: JsonSchema | undefined, ids: KnownIds): fc.Arbitrary<string> {
  // An id field gets the real id or one far past any row's: never a small number that might name
  // another row by chance (the test's own key, say, which DELETE /api/api-keys/:keyId would revoke).
  if (ids[name]) return fc.oneof({ weight: 4, arbitrary: fc.constant(ids[name]) }, { weight: 1, arbitrary: fc.bigInt({ min: 1_000_000n, max: 10n ** 19n }).map(String) });
  if (!s) return fc.string({ maxLength: 20 });
  return fitting(s).map((v) => (v === null || v === undefined ? '' : String(v)));
}

/** `t` with a NUL or half a surrogate pair put inside it. */
const spoil = (t: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(t, fc.nat(), fc.constantFrom(...BAD_CHARACTERS)).map(([x, at, c]) => x.slice(0, at % (x.length + 1)) + c + x.slice(at % (x.length + 1)));

/** Text in a URL that does not fit: a fitting one spoiled, a hostile string or a malformed escape. */
const unfitText = (fits: fc.Arbitrary<string>): fc.Arbitrary<UrlText> => fc.oneof(spoil(fits), hostileShortString, malformedEscape);

type Pair = [UrlText, UrlText];
const queryString = (pairs: Pair[]) => pairs.map(([k, v]) => `${encodeUrlText(k)}=${encodeUrlText(v)}`).join('&');

/** The parts of a request to one route, each fitting or not. */
interface Parts {
  fitPath: fc.Arbitrary<string>;
  unfitPath: fc.Arbitrary<string>;
  fitQuery: fc.Arbitrary<string>;
  unfitQuery: fc.Arbitrary<string>;
  fitBody: fc.Arbitrary<Body>;
  nearBody: fc.Arbitrary<Body>;
  anyBody: fc.Arbitrary<Body>;
}
type Body = { body: string | undefined; contentType: string | undefined };

function partsOf(spec: RouteSpec, ids: KnownIds, caller: Caller): Parts {
  const params = schemaOf(spec.params)?.properties ?? {};
  const names = [...spec.url.matchAll(/:(\w+)/g)].map((m) => m[1]);
  const path = (spoiled: boolean) => {
    const fits = names.map((n) => fittingText(n, params[n], ids));
    // Spoiled: one parameter does not fit (the routes have one at most).
    const values = fc.tuple(...fits.map((f) => (spoiled ? unfitText(f) : f)));
    return values.map((vs) => names.reduce((url, n, i) => url.replace(`:${n}`, () => encodeUrlText(vs[i]) || '%20'), spec.url));
  };

  const fields = schemaOf(spec.query)?.properties ?? {};
  const fieldNames = Object.keys(fields);
  const fitPairs: fc.Arbitrary<Pair[]> = fieldNames.length
    ? fc.subarray(fieldNames).chain((ns) => fc.tuple(...ns.map((n) => fittingText(n, fields[n], ids).map((v): Pair => [n, v]))))
    : fc.constant([]);
  const junkPair = fc.tuple(fc.oneof(hostileShortString, malformedEscape), fc.oneof(hostileShortString, malformedEscape));
  const unfitQuery = fc.oneof(
    // One field spoiled.
    ...(fieldNames.length ? [fc.tuple(fitPairs, fc.constantFrom(...fieldNames)).chain(([ps, n]) => unfitText(fittingText(n, fields[n], ids)).map((v) => [...ps.filter(([k]) => k !== n), [n, v] as Pair]))] : []),
    // One field twice: it reaches the handler as an array.
    ...(fieldNames.length ? [fc.tuple(fitPairs, fc.constantFrom(...fieldNames)).chain(([ps, n]) => fittingText(n, fields[n], ids).map((v) => [...ps, [n, v] as Pair, [n, v] as Pair]))] : []),
    // A field the route does not know.
    fc.tuple(fitPairs, junkPair).map(([ps, j]) => [...ps, j]),
  );

  const json = (v: fc.Arbitrary<unknown>): fc.Arbitrary<Body> => v.map((x) => ({ body: JSON.stringify(x) ?? 'null', contentType: 'application/json' }));
  const none = fc.constant<Body>({ body: undefined, contentType: undefined });
  const schema = schemaOf(spec.body);
  const anyBody = fc.oneof(
    none,
    json(hostileValue),
    fc.tuple(hostileString, fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1')).map(([body, contentType]): Body => ({ body, contentType })),
  );
  return {
    fitPath: path(false),
    unfitPath: path(true),
    fitQuery: fitPairs.map(queryString),
    unfitQuery: unfitQuery.map(queryString),
    fitBody: schema ? json(fitting(schema, caller)) : none,
    nearBody: schema ? json(nearlyFitting(schema, caller)) : anyBody,
    anyBody,
  };
}

/**
 * Requests to `spec`'s route, under the admin key, the tenant's or none.
 * Most differ from a valid request in one place only (the body, the query
 * or a path parameter), so that what they carry gets past the checks of
 * everything else and reaches the handler; the rest are hostile throughout.
 */
export function hostileRequest(spec: RouteSpec, ids: KnownIds): fc.Arbitrary<HostileRequest> {
  const forCaller = (key: Caller) => {
    const p = partsOf(spec, ids, key);
    const tenantScoped = !!(schemaOf(spec.query)?.properties ?? {}).tenantId;
    // The admin key names its tenant in the query on the tenant-scoped routes: keep it there.
    const fitQuery = key === 'admin' && tenantScoped ? p.fitQuery.map((q) => (q.includes('tenantId=') ? q : [q, `tenantId=${ids.tenantId}`].filter(Boolean).join('&'))) : p.fitQuery;
    return fc.oneof(
      { weight: 4, arbitrary: fc.record({ path: p.fitPath, query: fitQuery, body: p.nearBody }) },
      { weight: 1, arbitrary: fc.record({ path: p.fitPath, query: p.unfitQuery, body: p.fitBody }) },
      { weight: 1, arbitrary: fc.record({ path: p.unfitPath, query: fitQuery, body: p.fitBody }) },
      { weight: 1, arbitrary: fc.record({ path: fc.oneof(p.fitPath, p.unfitPath), query: fc.oneof(p.fitQuery, p.unfitQuery), body: p.anyBody }) },
    );
  };
  // The key the route takes, mostly; now and then another, or none.
  const usual: Caller = spec.auth === 'admin' ? 'admin' : 'tenant';
  const key = fc.constantFrom<HostileRequest['key']>(usual, usual, usual, usual === 'admin' ? 'tenant' : 'admin', 'none');
  return key
    .chain((k) => forCaller(k === 'none' ? 'admin' : k).map((r) => ({ ...r, key: k })))
    .map(({ path, query, body, key: k }) => ({ method: spec.method, path, query, key: k, ...body }));
}
