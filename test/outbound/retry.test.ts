import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCloudApi } from '../../src/outbound/cloudApi.ts';
import { Pacer } from '../../src/outbound/pacer.ts';
import { sendWithRetry } from '../../src/outbound/retry.ts';
import { CloudApiError, type CloudApi } from '../../src/outbound/types.ts';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';

const channel = { phoneNumberId: '2000001', accessToken: 'tok' };
const customer = { waId: '15550001111', userId: null };

let sim: CloudApiSimulator;
let api: CloudApi;

beforeAll(async () => {
  sim = await startCloudApiSimulator({ statusDelaysMs: null });
  api = createCloudApi(`${sim.url}/v25.0`);
});
afterAll(async () => {
  await api.close();
  await sim.close();
});
afterEach(() => sim.reset());

const send = () => api.sendText(channel, customer, 'hello', { callbackData: 'wg:r1' });

function recorder() {
  const retries: { code: number; attempt: number; delayMs: number }[] = [];
  return { retries, onRetry: (err: CloudApiError, attempt: number, delayMs: number) => retries.push({ code: err.code, attempt, delayMs }) };
}

describe('sendWithRetry', () => {
  it('retries a 429 / 130429 and sends once after the backoff', async () => {
    sim.script({ status: 429, code: 130429, title: 'Rate limit hit' });
    const r = recorder();
    const sent = await sendWithRetry(send, { baseMs: 10, onRetry: r.onRetry });
    expect(sent.wamid).toMatch(/^wamid\./);
    expect(r.retries).toHaveLength(1);
    expect(r.retries[0]).toMatchObject({ code: 130429, attempt: 1 });
    expect(r.retries[0].delayMs).toBeGreaterThanOrEqual(0);
    expect(r.retries[0].delayMs).toBeLessThan(10);
    expect(sim.stats()).toMatchObject({ requests: 2, sends: 1 });
  });

  it('does not retry 131047 (outside the 24-hour window)', async () => {
    sim.script({ status: 400, code: 131047, title: 'Re-engagement message' });
    const r = recorder();
    const err = await sendWithRetry(send, { baseMs: 10, onRetry: r.onRetry }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CloudApiError);
    expect((err as CloudApiError).code).toBe(131047);
    expect(r.retries).toHaveLength(0);
    expect(sim.stats()).toMatchObject({ requests: 1, sends: 0 });
  });

  it('gets a message through three 5xx answers', async () => {
    sim.script({ status: 500 }, { status: 503, body: 'upstream down' }, { status: 500, code: 131000, title: 'Something went wrong' });
    const r = recorder();
    const sent = await sendWithRetry(send, { baseMs: 10, onRetry: r.onRetry });
    expect(sent.wamid).toMatch(/^wamid\./);
    expect(r.retries.map((x) => x.code)).toEqual([500, 503, 131000]);
    expect(r.retries.map((x) => x.attempt)).toEqual([1, 2, 3]);
    expect(sim.stats()).toMatchObject({ requests: 4, sends: 1 });
  });

  it('retries network errors', async () => {
    sim.script({ drop: true }, { drop: true });
    const sent = await sendWithRetry(send, { baseMs: 5 });
    expect(sent.wamid).toMatch(/^wamid\./);
    expect(sim.stats().sends).toBe(1);
  });

  it('gives up after maxAttempts with the last error', async () => {
    sim.script({ status: 500 }, { status: 500 }, { status: 502 }, { status: 500 });
    const err = await sendWithRetry(send, { maxAttempts: 3, baseMs: 5 }).catch((e: unknown) => e);
    expect((err as CloudApiError).code).toBe(502);
    expect(sim.stats()).toMatchObject({ requests: 3, sends: 0 });
    expect(sim.scripted).toBe(1);
  });

  it('backs off exponentially with full jitter, capped by maxMs', async () => {
    const errors = [1, 2, 3, 4, 5].map(() => new CloudApiError(2, 'temporary', 503, true));
    const r = recorder();
    const result = await sendWithRetry(
      async (n) => {
        if (n <= errors.length) throw errors[n - 1];
        return n;
      },
      { baseMs: 1, maxMs: 6, random: () => 0.999, onRetry: r.onRetry },
    );
    expect(result).toBe(6);
    // Near the top of each window: 1, 2, 4, then the 6 ms cap.
    expect(r.retries.map((x) => x.delayMs)).toEqual([0, 1, 3, 5, 5]);
    const low = recorder();
    await sendWithRetry(
      async (n) => {
        if (n < 4) throw new CloudApiError(0, 'reset', null, true);
        return n;
      },
      { baseMs: 1000, random: () => 0, onRetry: low.onRetry },
    );
    expect(low.retries.map((x) => x.delayMs)).toEqual([0, 0, 0]);
  });

  it('uses the pacer’s 4^n pair backoff for 131056, reset by a success', async () => {
    const pacer = new Pacer({ pairBackoffUnitMs: 2 });
    try {
      sim.script(
        { status: 400, code: 131056, title: 'pair rate limit hit' },
        { status: 400, code: 131056, title: 'pair rate limit hit' },
      );
      const r = recorder();
      await sendWithRetry(send, { baseMs: 10_000, onRetry: r.onRetry, pairBackoff: pacer.pairBackoff(channel.phoneNumberId, customer.waId) });
      expect(r.retries.map((x) => [x.code, x.delayMs])).toEqual([
        [131056, 8],
        [131056, 32],
      ]);
      pacer.pairSucceeded(channel.phoneNumberId, customer.waId);
      sim.script({ status: 400, code: 131056, title: 'pair rate limit hit' }, { status: 500 });
      const again = recorder();
      await sendWithRetry(send, { baseMs: 1, random: () => 0, onRetry: again.onRetry, pairBackoff: pacer.pairBackoff(channel.phoneNumberId, customer.waId) });
      // Back to 4^1 units; the 500 that follows is not a pair limit and uses the ordinary backoff.
      expect(again.retries.map((x) => [x.code, x.delayMs])).toEqual([
        [131056, 8],
        [500, 0],
      ]);
    } finally {
      pacer.close();
    }
  });

  it('stops waiting and attempting when aborted', async () => {
    sim.script({ status: 500 }, { status: 500 }, { status: 500 });
    const ac = new AbortController();
    const p = sendWithRetry(send, {
      baseMs: 60_000,
      random: () => 0.99,
      signal: ac.signal,
      onRetry: () => setTimeout(() => ac.abort(new Error('shutting down')), 10),
    });
    const err = await p.catch((e: unknown) => e);
    expect((err as Error).message).toBe('shutting down');
    expect(sim.stats().requests).toBe(1);
  });

  it('does not start when already aborted, and does not retry other errors', async () => {
    const ac = new AbortController();
    ac.abort(new Error('gone'));
    let calls = 0;
    const err = await sendWithRetry(async () => ++calls, { signal: ac.signal }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('gone');
    expect(calls).toBe(0);
    const bug = await sendWithRetry(async () => {
      calls++;
      throw new TypeError('a bug');
    }).catch((e: unknown) => e);
    expect(bug).toBeInstanceOf(TypeError);
    expect(calls).toBe(1);
  });

  it('refuses nonsense options', async () => {
    await expect(sendWithRetry(async () => 1, { maxAttempts: 0 })).rejects.toThrow(RangeError);
    await expect(sendWithRetry(async () => 1, { baseMs: -1 })).rejects.toThrow(RangeError);
  });
});
