import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeModel, type FakeModel } from '../../bench/fakeModel.ts';
import { provisionTenant, TEST_ADMIN_KEY } from '../support/gateway.ts';
import { eventually, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog } from './customers.ts';
import { closeConversationTest, openConversationTest } from './harness.ts';
import { median, p99 } from '../support/percentile.ts';

const MODEL_LATENCY_MS = 300;
const FALLBACK = 'Sorry, we will get back to you shortly.';

describe("a tenant's model hangs on every call", () => {
  let hanging: FakeModel;
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    hanging = await startFakeModel();
    hanging.setMode('hang');
    ({ h, rows, sends } = await openConversationTest({
      env: { WAGATE_MAX_INFLIGHT: '20', WAGATE_EGRESS_ALLOW: new URL(hanging.url).host },
    }));
  });
  afterAll(async () => {
    await closeConversationTest({ h, rows, sends });
    await hanging?.close();
  });

  const gauge = async (name: string) => {
    const text = await (await fetch(h.gw.url + '/metrics', { headers: { authorization: `Bearer ${TEST_ADMIN_KEY}` } })).text();
    const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
    return m ? Number(m[1]) : NaN;
  };

  it('times out, falls back and releases its turn slots, while another tenant is answered as fast as without it', async () => {
    const stuck = await provisionTenant(h.gw, {
      name: 'Stuck',
      agent: { provider: 'openai', baseUrl: hanging.openaiBaseUrl, apiKey: 'sk-own', timeoutMs: 500, fallbackMessage: FALLBACK, markReadWithTyping: false },
    });
    const fine = await provisionTenant(h.gw, { name: 'Fine', agent: { provider: 'openai', markReadWithTyping: false } });
    h.model.setLatency(MODEL_LATENCY_MS);

    // The working tenant's answer times: 10 customers, 4 messages each, each after the last was answered.
    const fineCustomers = new Customers(h.gw.url, fine.phoneNumberId);
    const measure = async (tag: string) => {
      const times: number[] = [];
      await Promise.all(
        Array.from({ length: 10 }, async () => {
          const wa = newWaId();
          for (let i = 0; i < 4; i++) {
            const started = Date.now();
            await fineCustomers.say(wa, `${tag} ${i}`);
            await eventually(() => sends.to(wa).length === i + 1, 30_000, `answer ${i} of ${wa}`);
            times.push(Date.now() - started);
          }
        }),
      );
      return times;
    };
    await measure('warm-up');
    const alone = await measure('alone');

    // 30 customers of the stuck tenant write, and write again each time they get the fallback.
    const stuckCustomers = new Customers(h.gw.url, stuck.phoneNumberId);
    const stuckWa = Array.from({ length: 30 }, newWaId);
    let writing = true;
    let written = 0;
    const stuckLoad = Promise.all(
      stuckWa.map(async (wa) => {
        for (let i = 0; writing; i++) {
          await stuckCustomers.say(wa, `stuck ${i}`);
          written++;
          await eventually(() => !writing || sends.to(wa).length === i + 1, 60_000, `fallback ${i} of ${wa}`);
        }
      }),
    );
    // Its calls hang, as many as its share of the turn slots (half of 20) and no more.
    await eventually(() => hanging.inflight >= 10, 15_000, 'the stuck tenant holding its share');
    const beside = await measure('beside');
    writing = false;
    await stuckLoad;

    const aloneP99 = p99(alone);
    const besideP99 = p99(beside);
    console.log(`working tenant answer median ${median(alone)} / p99 ${aloneP99} ms alone, ${median(beside)} / ${besideP99} ms beside the hanging tenant; stuck tenant messages written: ${written}, hanging calls at most ${hanging.maxConcurrent}`);
    // Its share as the model sees it: calls on connections still open. On a busy machine the model can
    // handle a new call before the close of one the gateway had already given up; so one or two more.
    // The limiter's exact bounds are proved in limiter.test.ts.
    expect(hanging.maxConcurrent).toBeLessThanOrEqual(12);
    // Were the stuck tenant holding the other's slots, most of its answers would wait behind a stuck turn
    // (3 attempts of 500 ms and the pauses between them). The median, not the tail: a busy machine's
    // stalls land on either run's tail.
    expect(median(beside)).toBeLessThanOrEqual(2 * median(alone) + 250);

    // Every stuck message ended with the fallback, disposition agent_failed (or coalesced into one that did).
    await eventually(async () => (await Promise.all(stuckWa.map((wa) => rows.settled(wa)))).every(Boolean), 60_000, 'every stuck message settled');
    for (const wa of stuckWa) {
      const dispositions = await rows.dispositions(wa);
      expect(dispositions).toContain('agent_failed');
      expect(dispositions.every((d) => d === 'agent_failed' || d === 'coalesced')).toBe(true);
      expect(sends.to(wa).every((body) => body === FALLBACK)).toBe(true);
    }
    // Nothing is left holding a slot or a connection to the hanging model.
    await eventually(async () => (await gauge('wagate_turns_inflight')) === 0, 15_000, 'no turn in flight');
    await eventually(() => hanging.inflight === 0, 15_000, 'no call left open');
    // The conversations it ran are let go: what the runner holds in memory does not grow with the hang.
    await eventually(() => h.gw.runner!.activeConversations === 0, 15_000, 'no conversation held in memory');
  }, 240_000);
});
