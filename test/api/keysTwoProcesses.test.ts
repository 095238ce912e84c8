import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';

/** Signs in to a gateway's dashboard with a key; returns the cookie header a browser would send. */
async function signIn(gw: TestGateway, key: string): Promise<string> {
  const res = await fetch(gw.url + '/api/session', { method: 'POST', headers: { 'content-type': 'application/json', origin: gw.url }, body: JSON.stringify({ key }) });
  expect(res.status).toBe(200);
  return res.headers.get('set-cookie')!.split(';')[0];
}

const withCookie = async (gw: TestGateway, cookie: string) => (await fetch(gw.url + '/api/usage', { headers: { cookie } })).status;

/** Polls `check` until it holds and returns how long that took; fails past `boundMs`. */
async function within(boundMs: number, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > boundMs) throw new Error(`not within ${boundMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - start;
}

describe('two gateways on one database: revocations and sign-outs reach both within a second', () => {
  let one: TestGateway;
  let two: TestGateway;
  beforeAll(async () => {
    one = await startTestGateway();
    two = await startTestGateway({ dbUrl: one.dbUrl });
  });
  afterAll(async () => {
    await two?.stop();
    await one?.stop();
  });

  it('a key revoked through one gateway is refused by the other within a second (while cached there)', async () => {
    const t = await provisionTenant(one, { name: 'Revoked' });
    const spare = (await api(one, 'POST', `/api/tenants/${t.tenant.id}/api-keys`)).body;
    // The second gateway has the key in its cache now.
    expect((await api(two, 'GET', '/api/usage', undefined, spare.key)).status).toBe(200);
    expect((await api(one, 'DELETE', `/api/api-keys/${spare.id}`)).status).toBe(200);
    const ms = await within(1_000, async () => (await api(two, 'GET', '/api/usage', undefined, spare.key)).status === 401);
    expect(ms).toBeLessThan(1_000);
    expect((await api(two, 'GET', '/api/usage', undefined, t.key)).status).toBe(200);
  });

  it("revoking a key ends its dashboard sessions on every gateway", async () => {
    const t = await provisionTenant(one, { name: 'Sessions' });
    const spare = (await api(one, 'POST', `/api/tenants/${t.tenant.id}/api-keys`)).body;
    const cookie = await signIn(two, spare.key);
    expect(await withCookie(two, cookie)).toBe(200);
    expect(await withCookie(one, cookie)).toBe(200);
    expect((await api(one, 'DELETE', `/api/api-keys/${spare.id}`, undefined, t.key)).status).toBe(200);
    await within(1_000, async () => (await withCookie(two, cookie)) === 401);
    expect(await withCookie(one, cookie)).toBe(401);
  });

  it('signing out on one gateway ends the session on the other: a copied cookie no longer works', async () => {
    const t = await provisionTenant(one, { name: 'Copied' });
    const cookie = await signIn(one, t.key);
    expect(await withCookie(two, cookie)).toBe(200);
    const out = await fetch(one.url + '/api/session', { method: 'DELETE', headers: { cookie, origin: one.url } });
    expect(out.status).toBe(204);
    expect(await withCookie(one, cookie)).toBe(401);
    await within(1_000, async () => (await withCookie(two, cookie)) === 401);
    // The key itself still works: signing out ends a session, not a key.
    expect((await api(two, 'GET', '/api/usage', undefined, t.key)).status).toBe(200);
  });
});
