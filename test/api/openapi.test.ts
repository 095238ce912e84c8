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
          if (Number(status) >= 400 && schema && path !== '/readyz') expect(schema.properties.error.properties).toHaveProperty('code');
        }
      }
    }
  });

  it('carries the documented shapes and the inputs the routes parse', () => {
    const list = doc.paths['/api/conversations'].get;
    const item = list.responses['200'].content['application/json'].schema.properties.items.items;
    expect(Object.keys(item.properties)).toEqual(expect.arrayContaining(['id', 'channelId', 'contact', 'paused', 'pausedUntil', 'lastMessage', 'unread']));
    expect(list.parameters.map((p: any) => p.name)).toEqual(expect.arrayContaining(['cursor', 'limit', 'paused', 'unanswered', 'disposition']));
    const send = doc.paths['/api/conversations/{id}/messages'].post;
    expect(send.requestBody.content['application/json'].schema.required).toEqual(['text']);
    expect(send.responses['409'].description).toMatch(/outside_customer_service_window/);
    const message = send.responses['201'].content['application/json'].schema.properties.messages.items;
    expect(Object.keys(message.properties)).toEqual(
      expect.arrayContaining(['id', 'direction', 'author', 'wamid', 'type', 'text', 'status', 'disposition', 'turnId', 'error', 'createdAt']),
    );
    expect(doc.paths['/api/tenants'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('agent');
    expect(doc.paths['/api/usage'].get.responses['200'].content['application/json'].schema.required).toEqual(['month', 'count', 'limit']);
  });
});
