import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FairLimiter } from '../../src/conversation/limiter.ts';

type Op = { kind: 'acquire'; tenant: number } | { kind: 'release'; pick: number };

const ops = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('acquire' as const), tenant: fc.integer({ min: 0, max: 3 }) }),
    fc.record({ kind: fc.constant('release' as const), pick: fc.nat() }),
  ),
  { maxLength: 200 },
);

/** Runs the operations, checking after each that no bound is broken; returns the grants in order. */
async function run(max: number, perTenant: number, steps: Op[]) {
  const limiter = new FairLimiter(max, perTenant);
  const held: { tenant: string; release: () => void }[] = [];
  const perTenantHeld = new Map<string, number>();
  const grants: string[] = [];
  let requested = 0;
  const check = () => {
    expect(held.length).toBeLessThanOrEqual(max);
    for (const n of perTenantHeld.values()) expect(n).toBeLessThanOrEqual(perTenant);
    expect(limiter.inflight).toBe(held.length);
  };
  const acquire = (tenant: string) => {
    requested++;
    void limiter.acquire(tenant).then((release) => {
      held.push({ tenant, release });
      perTenantHeld.set(tenant, (perTenantHeld.get(tenant) ?? 0) + 1);
      grants.push(tenant);
      check();
    });
  };
  const releaseAt = (i: number) => {
    const [h] = held.splice(i, 1);
    perTenantHeld.set(h.tenant, perTenantHeld.get(h.tenant)! - 1);
    h.release();
    h.release(); // a second call changes nothing
  };
  for (const op of steps) {
    if (op.kind === 'acquire') acquire(`t${op.tenant}`);
    else if (held.length > 0) releaseAt(op.pick % held.length);
    await Promise.resolve();
    await Promise.resolve();
    check();
  }
  // Releasing everything serves every waiter: none is lost.
  while (held.length > 0 || limiter.queued > 0) {
    if (held.length > 0) releaseAt(0);
    await new Promise((r) => setImmediate(r));
  }
  expect(grants).toHaveLength(requested);
  expect(limiter.inflight).toBe(0);
  return grants;
}

describe('FairLimiter', () => {
  it('never runs more than max turns, nor more than perTenant of one tenant, and serves every waiter', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), ops, async (max, perTenant, steps) => {
        await run(max, Math.min(max, perTenant), steps);
      }),
      { numRuns: 300 },
    );
  });

  it("a tenant with one waiter is served before a flooding tenant's next turns", async () => {
    const limiter = new FairLimiter(2, 2);
    const flood = await Promise.all([limiter.acquire('flood'), limiter.acquire('flood')]);
    const order: string[] = [];
    for (let i = 0; i < 5; i++) void limiter.acquire('flood').then(() => order.push('flood'));
    void limiter.acquire('quiet').then(() => order.push('quiet'));
    flood[0]();
    await new Promise((r) => setImmediate(r));
    flood[1]();
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['flood', 'quiet']);
  });

  it("a tenant at its share waits while another tenant's turn starts in the free slot", async () => {
    const limiter = new FairLimiter(3, 1);
    const a = await limiter.acquire('a');
    let second = false;
    void limiter.acquire('a').then(() => (second = true));
    const b = await limiter.acquire('b');
    await new Promise((r) => setImmediate(r));
    expect(second).toBe(false);
    a();
    await new Promise((r) => setImmediate(r));
    expect(second).toBe(true);
    b();
  });
});
