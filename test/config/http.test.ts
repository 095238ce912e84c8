import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';
import { hostAllowed, isStrongAdminKey, parseHost } from '../../src/config/http.ts';

const REQUIRED = {
  WHATSAPP_APP_SECRET: 'app-secret',
  WHATSAPP_VERIFY_TOKEN: 'verify-token',
  WAGATE_ADMIN_KEY: '0123456789abcdef0123456789abcdef',
  WAGATE_SECRET_KEY: '0123456789abcdef'.repeat(4),
};

const errorOf = (env: Record<string, string>, opts: { sandbox?: boolean } = {}) => {
  try {
    loadConfig({ ...REQUIRED, ...env }, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
};

describe('the HTTP settings', () => {
  it('default to the documented limits', () => {
    expect(loadConfig(REQUIRED).http).toMatchObject({
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
      keepAliveTimeoutMs: 72_000,
      maxConnections: 10_000,
      webhookInflightBytes: 64 * 1024 * 1024,
      publicUrl: null,
      trustProxy: false,
    });
  });

  it('read every variable', () => {
    const c = loadConfig({
      ...REQUIRED,
      WAGATE_HTTP_REQUEST_TIMEOUT_MS: '5000',
      WAGATE_HTTP_HEADERS_TIMEOUT_MS: '2000',
      WAGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000',
      WAGATE_MAX_CONNECTIONS: '500',
      WAGATE_WEBHOOK_INFLIGHT_BYTES: '8388608',
      WAGATE_PUBLIC_URL: 'https://hooks.example.com/',
      WAGATE_ALLOWED_HOSTS: 'a.example.com, B.example.com:8443,[::1]:3000',
      WAGATE_TRUST_PROXY: '10.0.0.0/8, 192.168.1.1,loopback',
    });
    expect(c.http).toMatchObject({
      requestTimeoutMs: 5000,
      headersTimeoutMs: 2000,
      keepAliveTimeoutMs: 65_000,
      maxConnections: 500,
      webhookInflightBytes: 8 * 1024 * 1024,
      publicUrl: 'https://hooks.example.com',
      trustProxy: ['10.0.0.0/8', '192.168.1.1', 'loopback'],
      allowedHosts: {
        any: false,
        unset: false,
        entries: [
          { host: 'a.example.com', port: null },
          { host: 'b.example.com', port: 8443 },
          { host: '[::1]', port: 3000 },
          { host: 'hooks.example.com', port: null },
        ],
      },
    });
    expect(loadConfig({ ...REQUIRED, WAGATE_TRUST_PROXY: 'true' }).http.trustProxy).toBe(true);
    expect(loadConfig({ ...REQUIRED, WAGATE_ALLOWED_HOSTS: '*' }).http.allowedHosts).toEqual({ any: true, entries: [], unset: false });
  });

  it('allow, with no host setting, the loopback names in sandbox mode or on a loopback bind, else any host (flagged for a warning)', () => {
    expect(loadConfig(REQUIRED).http.allowedHosts).toEqual({ any: false, entries: [], unset: false });
    expect(loadConfig({ ...REQUIRED, HOST: '::1' }).http.allowedHosts.any).toBe(false);
    expect(loadConfig({ ...REQUIRED, HOST: '0.0.0.0' }, { sandbox: true }).http.allowedHosts.any).toBe(false);
    expect(loadConfig({ ...REQUIRED, HOST: '0.0.0.0' }).http.allowedHosts).toEqual({ any: true, entries: [], unset: true });
  });

  it.each([
    ['WAGATE_HTTP_REQUEST_TIMEOUT_MS', '0'],
    ['WAGATE_HTTP_HEADERS_TIMEOUT_MS', 'soon'],
    ['WAGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS', '-1'],
    ['WAGATE_MAX_CONNECTIONS', '0'],
    ['WAGATE_WEBHOOK_INFLIGHT_BYTES', '10'],
    ['WAGATE_PUBLIC_URL', 'hooks.example.com'],
    ['WAGATE_ALLOWED_HOSTS', 'good.example.com,bad host'],
    ['WAGATE_ALLOWED_HOSTS', 'a.example.com:99999'],
    ['WAGATE_ALLOWED_HOSTS', 'https://a.example.com'],
    ['WAGATE_TRUST_PROXY', '2'],
    ['WAGATE_TRUST_PROXY', 'proxy.internal'],
    ['WAGATE_TRUST_PROXY', '10.0.0.0/33'],
  ])('refuse %s=%j with one line naming it', (name, value) => {
    const message = errorOf({ [name]: value });
    expect(message.startsWith(`${name}: `)).toBe(true);
    expect(message).not.toContain('\n');
  });
});

describe('the admin key rule', () => {
  it('takes random keys of 32 characters or more', () => {
    for (const key of ['0123456789abcdef0123456789abcdef', 'wgk_admin_' + 'Zx9-Qw_3Lp0Rt7Yh2Kd5Mn8Vb1', '7f3a'.repeat(4) + 'c0de' + 'b1e5'.repeat(3)]) {
      expect(isStrongAdminKey(key), key).toBe(true);
    }
  });

  it('refuses shorter keys and keys of fewer than 8 different characters', () => {
    for (const key of ['0123456789abcdef0123456789abcde', 'a'.repeat(64), 'abcdefg'.repeat(6), '']) expect(isStrongAdminKey(key), key).toBe(false);
    expect(errorOf({ WAGATE_ADMIN_KEY: 'x'.repeat(40) })).toMatch(/^WAGATE_ADMIN_KEY: must carry at least 128 bits/);
    expect(errorOf({ WAGATE_ADMIN_KEY: 'hunter2-hunter2' }, { sandbox: true })).not.toContain('hunter2');
  });
});

describe('Host matching', () => {
  const allowed = { any: false, unset: false, entries: [{ host: 'hooks.example.com', port: null }, { host: 'dash.example.com', port: 8443 }] };

  it('parses names, IPv4 and bracketed IPv6, with optional port', () => {
    expect(parseHost('Example.COM:80')).toEqual({ host: 'example.com', port: 80 });
    expect(parseHost('[::1]')).toEqual({ host: '[::1]', port: null });
    expect(parseHost('10.1.2.3:3000')).toEqual({ host: '10.1.2.3', port: 3000 });
    for (const bad of ['', 'a b', 'x:0', '::1', '[::1', 'user@host', 'a..b', '-a.example']) expect(parseHost(bad), bad).toBeNull();
  });

  it('allows the entries (with their port when given) and always the loopback names', () => {
    for (const h of ['hooks.example.com', 'hooks.example.com:443', 'dash.example.com:8443', 'localhost:3000', '127.0.0.1', '[::1]:80']) expect(hostAllowed(allowed, h), h).toBe(true);
    for (const h of ['dash.example.com', 'evil.example', 'hooks.example.com.evil.example', '', '127.0.0.2']) expect(hostAllowed(allowed, h), h).toBe(false);
  });
});
