import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, startTestGateway, type TestGateway } from '../support/gateway.ts';

/** The routes fastify has, from its printed tree: "METHOD /path" (HEAD left out). */
function serverRoutes(gw: TestGateway): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of gw.http.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+)(?: \(([^)]*)\))?/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) out.push(`${method} ${stack.join('')}`);
  }
  return out;
}

/** A schema with its $ref (to components.schemas) followed. */
function deref(doc: any, schema: any): any {
  if (!schema?.$ref) return schema;
  const name = /^#\/components\/schemas\/(\w+)$/.exec(schema.$ref)?.[1];
  expect(name, schema.$ref).toBeTruthy();
  const target = doc.components.schemas[name!];
  expect(target, schema.$ref).toBeDefined();
  return deref(doc, target);
}

/** Every $ref anywhere in a value. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === '$ref' && typeof v === 'string') out.push(v);
      else refs(v, out);
    }
  }
  return out;
}

describe('GET /api/openapi.json', () => {
  let gw: TestGateway;
  let doc: any;
  beforeAll(async () => {
    gw = await startTestGateway();
    const r = await api(gw, 'GET', '/api/openapi.json', undefined, null);
    expect(r.status).toBe(200);
    doc = r.body;
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('is an OpenAPI 3.1 document with bearer and session security', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.components.securitySchemes.session).toMatchObject({ type: 'apiKey', in: 'cookie', name: 'wagate_session' });
  });

  it('describes every route the server has, and no route it does not have', () => {
    const documented = Object.entries(doc.paths).flatMap(([path, ops]: [string, any]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const served = serverRoutes(gw);
    expect(served.length).toBeGreaterThan(20);
    expect([...documented].sort()).toEqual([...served].sort());
  });

  it('each operation has a summary, unique operationId, responses, and the error shape on errors', () => {
    const ids = new Set<string>();
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        expect(op.summary, `${method} ${path}`).toBeTruthy();
        expect(ids.has(op.operationId)).toBe(false);
        ids.add(op.operationId);
        expect(Object.keys(op.responses).length).toBeGreaterThan(0);
        for (const [status, r] of Object.entries<any>(op.responses)) {
          const schema = r.content?.['application/json']?.schema;
          // /readyz answers {ok:false} when not ready, as load balancers expect; every other error is the error shape.
          if (Number(status) >= 400 && schema && path !== '/readyz') expect(deref(doc, schema).properties.error.properties).toHaveProperty('code');
        }
      }
    }
  });

  it('carries the documented shapes and the inputs the routes parse', () => {
    const list = doc.paths['/api/conversations'].get;
    const item = deref(doc, deref(doc, list.responses['200'].content['application/json'].schema).properties.items.items);
    expect(Object.keys(item.properties)).toEqual(expect.arrayContaining(['id', 'channelId', 'contact', 'paused', 'pausedUntil', 'lastMessage', 'unread']));
    expect(list.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['cursor', 'limit', 'paused', 'unanswered', 'disposition']));
    const send = doc.paths['/api/conversations/{id}/messages'].post;
    const sendBody = deref(doc, send.requestBody.content['application/json'].schema);
    expect(Object.keys(sendBody.properties)).toEqual(['text', 'buttons', 'list', 'media', 'reaction', 'replyTo']);
    const template = doc.paths['/api/conversations/{id}/template'].post;
    expect(deref(doc, template.requestBody.content['application/json'].schema).required).toEqual(['name', 'language']);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/templates', '/api/templates/sync']));
    expect(send.responses['409'].description).toMatch(/outside_customer_service_window/);
    const message = deref(doc, deref(doc, send.responses['201'].content['application/json'].schema).properties.messages.items);
    expect(Object.keys(message.properties)).toEqual(
      expect.arrayContaining(['id', 'direction', 'author', 'wamid', 'type', 'text', 'status', 'disposition', 'turnId', 'error', 'createdAt']),
    );
    expect(deref(doc, doc.paths['/api/tenants'].post.requestBody.content['application/json'].schema).properties).toHaveProperty('agent');
    expect(deref(doc, doc.paths['/api/usage'].get.responses['200'].content['application/json'].schema).required).toEqual(['month', 'count', 'limit']);
  });

  it('names its operations camelCase, verb then noun, each once', () => {
    const ops = Object.values<any>(doc.paths).flatMap((o) => Object.values<any>(o));
    const ids = ops.map((op) => op.operationId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) {
      expect(id).toMatch(/^(list|get|create|update|delete|pause|resume|mark|send|sign|stream|revoke|verify|receive|disable|enable|erase|remove|sync|redeliver)[A-Z][a-zA-Z]*$/);
      // Never the path spelled out, as generators do when no id is given.
      expect(id).not.toMatch(/Api(Conversations|Tenants|Session)|Id[A-Z]|^(get|post|patch|delete)Api[A-Z]/);
    }
    expect(doc.paths['/api/conversations'].get.operationId).toBe('listConversations');
    expect(doc.paths['/api/conversations/{id}/messages'].post.operationId).toBe('sendMessage');
  });

  it('names its shapes under components.schemas, and every $ref resolves', () => {
    const names = Object.keys(doc.components.schemas);
    expect(names).toEqual(expect.arrayContaining(['Conversation', 'ConversationPage', 'Message', 'Tenant', 'Channel', 'Error', 'Usage', 'PerformanceMetrics']));
    const all = refs(doc);
    expect(all.length).toBeGreaterThan(20);
    for (const r of all) deref(doc, { $ref: r });
    expect(JSON.stringify(doc)).not.toContain('$defs');
    expect(doc.paths['/api/conversations/{id}'].get.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Conversation' });
  });

  it('gives every 200 a schema', () => {
    for (const [path, ops] of Object.entries<any>(doc.paths)) {
      for (const [method, op] of Object.entries<any>(ops)) {
        const ok = op.responses['200'];
        if (!ok) continue;
        const media = Object.values<any>(ok.content ?? {});
        expect(media.length, `${method} ${path}`).toBe(1);
        expect(media[0].schema, `${method} ${path}`).toBeDefined();
      }
    }
  });

  it('types numeric query parameters as integers with their bounds, and flags as booleans', () => {
    const params = (path: string) => Object.fromEntries(doc.paths[path].get.parameters.map((p: any) => [p.name, p.schema]));
    expect(params('/api/conversations').limit).toEqual({ type: 'integer', minimum: 1, maximum: 200, default: 50 });
    expect(params('/api/conversations').paused).toEqual({ type: 'boolean' });
    expect(params('/api/conversations/{id}/messages').limit).toEqual({ type: 'integer', minimum: 1, maximum: 500, default: 100 });
    // No query parameter left as a string of digits.
    for (const ops of Object.values<any>(doc.paths)) {
      for (const op of Object.values<any>(ops)) {
        for (const p of op.parameters ?? []) if (p.in === 'query') expect(p.schema.pattern, p.name).not.toBe('^\\d+$');
      }
    }
  });
});

describe('GET /api/docs', () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startTestGateway();
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it('answers an HTML page whose scripts and styles the gateway serves itself, under a policy that allows nothing else', async () => {
    const res = await fetch(gw.url + '/api/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).not.toMatch(/unsafe-(inline|eval)|https?:/);
    const html = await res.text();
    // No URL of another origin, and no inline script.
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script>(?!<\/script>)/);
    const assets = [...html.matchAll(/(?:src|href)="(\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const a of assets) {
      const r = await fetch(gw.url + a);
      expect(r.status, a).toBe(200);
      expect((await r.arrayBuffer()).byteLength, a).toBeGreaterThan(100);
    }
    expect((await fetch(gw.url + '/api/docs/package.json')).status).toBe(404);
    expect((await fetch(gw.url + '/api/docs/..%2Fpackage.json')).status).toBe(404);
  });
});
