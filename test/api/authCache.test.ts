import type { FastifyRequest } from 'fastify';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AUTH_CACHE_MS, Authenticator } from '../../src/api/auth.ts';

/** A key store whose keys the test revokes behind the authenticator's back (as another process would, with the listener down). */
function fakeKeys() {
  const live = new Map([['wgk_live', { id: '7', tenantId: '3' }]]);
  let lookups = 0;
  return {
    live,
    lookups: () => lookups,
    store: {
      async lookup(key: string) {
        lookups++;
        return live.get(key) ?? null;
      },
      markUsed() {},
    },
  };
}
const noSessions = { find: async () => null };
const bearerRequest = (key: string) => ({ headers: { authorization: `Bearer ${key}` } }) as unknown as FastifyRequest;

describe('the key cache: its lifetime bounds a revocation no announcement reached', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it(`caches a key for at most ${AUTH_CACHE_MS} ms`, async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const keys = fakeKeys();
    const auth = new Authenticator('admin-key-0123456789', keys.store, noSessions);
    expect(await auth.principal(bearerRequest('wgk_live'))).toEqual({ kind: 'tenant', tenantId: '3', keyId: '7' });
    keys.live.delete('wgk_live');
    vi.setSystemTime(1_000_000 + AUTH_CACHE_MS - 1);
    expect((await auth.principalForKey('wgk_live'))?.kind).toBe('tenant');
    expect(keys.lookups()).toBe(1);
    vi.setSystemTime(1_000_000 + AUTH_CACHE_MS);
    expect(await auth.principalForKey('wgk_live')).toBeNull();
    await expect(auth.principal(bearerRequest('wgk_live'))).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    expect(AUTH_CACHE_MS).toBeLessThanOrEqual(5_000);
  });

  it('an announcement drops the key at once; a reconnected listener clears everything', async () => {
    const keys = fakeKeys();
    const auth = new Authenticator(null, keys.store, noSessions);
    expect(await auth.principalForKey('wgk_live')).not.toBeNull();
    keys.live.delete('wgk_live');
    auth.forget('key:8');
    expect(await auth.principalForKey('wgk_live')).not.toBeNull();
    auth.forget('key:7');
    expect(await auth.principalForKey('wgk_live')).toBeNull();
    keys.live.set('wgk_live', { id: '7', tenantId: '3' });
    auth.clear();
    expect(await auth.principalForKey('wgk_live')).not.toBeNull();
  });
});
