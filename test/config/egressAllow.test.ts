import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/config.ts';

const REQUIRED = {
  WHATSAPP_APP_SECRET: 'app-secret',
  WHATSAPP_VERIFY_TOKEN: 'verify-token',
  WAGATE_ADMIN_KEY: 'admin-key-0123456789abcdefghijklmnop',
  WAGATE_SECRET_KEY: '0123456789abcdef'.repeat(4),
};

describe('WAGATE_EGRESS_ALLOW', () => {
  it('defaults to nothing allowed, and reads host:port and CIDR entries', () => {
    expect(loadConfig(REQUIRED).egressAllow).toEqual([]);
    const c = loadConfig({ ...REQUIRED, WAGATE_EGRESS_ALLOW: '127.0.0.1:11434,models.internal:8000, 10.0.0.0/8 ,192.168.1.0/24:8080' });
    expect(c.egressAllow).toEqual([
      { kind: 'net', net: { family: 4, base: 0x7f000001n, prefix: 32 }, port: 11434 },
      { kind: 'name', host: 'models.internal', port: 8000 },
      { kind: 'net', net: { family: 4, base: 0x0a000000n, prefix: 8 }, port: null },
      { kind: 'net', net: { family: 4, base: 0xc0a80100n, prefix: 24 }, port: 8080 },
    ]);
  });

  it.each([
    ['models.internal', 'models.internal'],
    ['127.0.0.1:11434,localhost', 'localhost'],
    ['10.0.0.0/40', '10.0.0.0/40'],
    ['host:99999', 'host:99999'],
    ['https://models.internal:8000', 'https://models.internal:8000'],
  ])('refuses %j with one line naming the variable and the bad entry', (value, entry) => {
    let err: unknown;
    try {
      loadConfig({ ...REQUIRED, WAGATE_EGRESS_ALLOW: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message.startsWith(`WAGATE_EGRESS_ALLOW: entry ${JSON.stringify(entry)} must be host:port`)).toBe(true);
    expect(message).not.toContain('\n');
  });
});
