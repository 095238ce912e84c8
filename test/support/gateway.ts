import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { loadConfig } from '../../src/config/config.ts';
import { startGateway, type Gateway } from '../../src/app/gateway.ts';
import type { GatewayOverrides } from '../../src/app/overrides.ts';
import { freshDatabase } from './db.ts';

export const TEST_APP_SECRET = 'test-app-secret';
export const TEST_VERIFY_TOKEN = 'test-verify-token';
export const TEST_ADMIN_KEY = 'test-admin-key-0123456789abcdefghijklmn';
export const TEST_SECRET_KEY = 'a'.repeat(64);

export interface TestGateway extends Gateway {
  /** The database URL of this gateway (a fresh copy of the template unless given). */
  readonly dbUrl: string;
}

/**
 * Starts a gateway on a random port with its own database and test secrets.
 * By default it only stores webhooks (`answer: false`); the pipeline harness
 * turns answering on.
 */
export async function startTestGateway(
  opts: { env?: Record<string, string>; dbUrl?: string } & GatewayOverrides = {},
): Promise<TestGateway> {
  const dbUrl = opts.dbUrl ?? (await freshDatabase());
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: dbUrl,
    WHATSAPP_APP_SECRET: TEST_APP_SECRET,
    WHATSAPP_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
    WAGATE_ADMIN_KEY: TEST_ADMIN_KEY,
    WAGATE_SECRET_KEY: TEST_SECRET_KEY,
    WHATSAPP_API_URL: 'http://127.0.0.1:9/v25.0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    WAGATE_SHUTDOWN_GRACE_MS: '2000',
    ...opts.env,
  });
  const { env: _env, dbUrl: _dbUrl, ...overrides } = opts;
  const gw = await startGateway(config, { log: pino({ level: config.logLevel }), answer: false, ...overrides });
  return Object.assign(gw, { dbUrl });
}

/** JSON request to the gateway with the admin key unless another is given. */
export async function api(gw: Gateway, method: string, path: string, body?: unknown, key: string | null = TEST_ADMIN_KEY) {
  const headers: Record<string, string> = {};
  if (key) headers.authorization = `Bearer ${key}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(gw.url + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

/** Creates a tenant with one channel and a tenant key. */
export async function provisionTenant(
  gw: Gateway,
  opts: {
    name?: string;
    phoneNumberId?: string;
    agent?: Record<string, unknown>;
    monthlyMessageLimit?: number | null;
    limits?: Record<string, unknown>;
    channel?: Record<string, unknown>;
  } = {},
) {
  const t = await api(gw, 'POST', '/api/tenants', {
    name: opts.name ?? 'Acme',
    monthlyMessageLimit: opts.monthlyMessageLimit ?? null,
    ...(opts.limits ? { limits: opts.limits } : {}),
    agent: opts.agent ?? { provider: 'demo' },
  });
  if (t.status !== 201) throw new Error(`tenant create failed: ${JSON.stringify(t.body)}`);
  const phoneNumberId = opts.phoneNumberId ?? 'pn' + randomBytes(5).toString('hex');
  const c = await api(gw, 'POST', `/api/tenants/${t.body.id}/channels`, { phoneNumberId, displayPhoneNumber: '+1 555 0100', accessToken: 'token-' + phoneNumberId, ...opts.channel });
  if (c.status !== 201) throw new Error(`channel create failed: ${JSON.stringify(c.body)}`);
  const k = await api(gw, 'POST', `/api/tenants/${t.body.id}/api-keys`);
  if (k.status !== 201) throw new Error(`key create failed: ${JSON.stringify(k.body)}`);
  return { tenant: t.body, channel: c.body, key: k.body.key as string, phoneNumberId };
}
