import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEY_MAX_FAILURES } from '../../src/api/auth.ts';
import { SIGN_IN_MAX_FAILURES } from '../../src/api/session.routes.ts';
import { provisionTenant, startTestGateway, TEST_ADMIN_KEY, type TestGateway } from '../support/gateway.ts';

/** GET /api/conversations with `key`, from the address `forwardedFor` says (when given). */
async function list(gw: TestGateway, key: string, forwardedFor?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${key}` };
  if (forwardedFor) headers['x-forwarded-for'] = forwardedFor;
  const res = await fetch(gw.url + '/api/conversations', { headers });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.json() };
}

/** POST /api/session with `key`, as the dashboard does. */
async function signIn(gw: TestGateway, key: string, forwardedFor: string) {
  const res = await fetch(gw.url + '/api/session', {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: gw.url, 'x-forwarded-for': forwardedFor },
    body: JSON.stringify({ key }),
  });
  return { status: res.status, retryAfter: res.headers.get('retry-after') };
}

const expect429 = (r: { status: number; retryAfter: string | null; body?: any }) => {
  expect(r.status).toBe(429);
  expect(Number(r.retryAfter)).toBeGreaterThan(0);
  if (r.body) expect(r.body.error.code).toBe('too_many_attempts');
};

describe('unknown bearer keys are limited per client address', () => {
  let gw: TestGateway;
  let key: string;
  beforeAll(async () => {
    gw = await startTestGateway();
    key = (await provisionTenant(gw)).key;
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it(`after ${KEY_MAX_FAILURES} unknown keys: 429 with Retry-After for any key from that address; X-Forwarded-For is not believed`, async () => {
    // Right keys are not counted.
    for (let i = 0; i < 2 * KEY_MAX_FAILURES; i++) expect((await list(gw, key)).status).toBe(200);
    for (let i = 0; i < KEY_MAX_FAILURES; i++) expect((await list(gw, `wgk_guess_${i}`, `198.51.100.${i}`)).status).toBe(401);
    expect429(await list(gw, 'wgk_guess_more', '198.51.100.200'));
    // Else a guess would still be told right (200) from wrong (429).
    expect429(await list(gw, key));
    expect429(await list(gw, TEST_ADMIN_KEY));
    // Every route that takes a key.
    const metrics = await fetch(gw.url + '/metrics', { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } });
    expect(metrics.status).toBe(429);
  });
});

describe('behind a trusted proxy, limits follow the forwarded address', () => {
  let gw: TestGateway;
  let key: string;
  beforeAll(async () => {
    gw = await startTestGateway({ env: { WAGATE_TRUST_PROXY: '127.0.0.1' } });
    key = (await provisionTenant(gw)).key;
  });
  afterAll(async () => {
    await gw?.stop();
  });

  it("one client's wrong keys do not lock out another behind the same proxy", async () => {
    const attacker = '203.0.113.7';
    const colleague = '198.51.100.9';
    for (let i = 0; i < KEY_MAX_FAILURES; i++) expect((await list(gw, `wgk_guess_${i}`, attacker)).status).toBe(401);
    expect429(await list(gw, key, attacker));
    expect429(await list(gw, key, `${colleague}, ${attacker}`));
    expect((await list(gw, key, colleague)).status).toBe(200);
    expect((await list(gw, 'wgk_typo', colleague)).status).toBe(401);
  });

  it("one client's failed sign-ins do not lock out another behind the same proxy", async () => {
    const attacker = '203.0.113.8';
    const colleague = '198.51.100.10';
    for (let i = 0; i < SIGN_IN_MAX_FAILURES; i++) expect((await signIn(gw, `wgk_guess_${i}`, attacker)).status).toBe(401);
    expect429(await signIn(gw, key, attacker));
    expect((await signIn(gw, key, colleague)).status).toBe(200);
  });
});
