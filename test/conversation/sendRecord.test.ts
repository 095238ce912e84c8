import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant } from '../support/gateway.ts';
import { sqlClient } from '../support/db.ts';
import { eventually, startPipeline, type PipelineHarness } from '../support/pipeline.ts';
import { ConversationRows } from './conversationRows.ts';
import { Customers, newWaId, SendLog, settle } from './customers.ts';

describe('recording a send result', () => {
  let h: PipelineHarness;
  let rows: ConversationRows;
  let sends: SendLog;
  beforeAll(async () => {
    // Short leases, so whatever would take the conversation over does so within the test.
    h = await startPipeline({ pipeline: { runner: { leaseSeconds: 2, renewIntervalMs: 500 } } });
    rows = await ConversationRows.open(h.gw.dbUrl);
    sends = new SendLog(h.cloud);
  });
  afterAll(async () => {
    sends?.stop();
    await rows?.close();
    await h?.close();
  });

  // When the statement recording a send result fails (here its connection is
  // terminated; under load a deadlock does the same to a whole batch), the
  // process still has the wamid in hand: Delivery records it again rather than
  // leave the reply `queued` for a sweep to send a second time. docs/behaviour.md: "Only
  // a send that was in flight at the crash can be sent twice".
  it('a database error while recording an accepted send does not send the reply again', async () => {
    const t = await provisionTenant(h.gw, { agent: { provider: 'openai', markReadWithTyping: false } });
    const customers = new Customers(h.gw.url, t.phoneNumberId);
    const wa = newWaId();
    // The Cloud API takes a moment, long enough to lock the conversation row first.
    h.cloud.script({ on: 'send', delayMs: 600 });
    await customers.say(wa, 'hello');
    await eventually(() => h.cloud.requests().some((r) => (r.body as any)?.to === wa), 10_000, 'the send under way');
    const convId = (await rows.conversation(wa))!.id;
    const locker = await sqlClient(h.gw.dbUrl);
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT id FROM conversations WHERE id = $1 FOR UPDATE', [convId]);
      await eventually(() => sends.to(wa).length === 1, 10_000, 'the send accepted');
      // The result statement now waits for the row lock: its connection is lost.
      const [blocked] = await eventually(async () => {
        const r = await rows.query<{ pid: number }>(
          // The send-result statement, not a lease renewal that waits for the same row.
          `SELECT pid FROM pg_stat_activity
           WHERE wait_event_type = 'Lock' AND datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%release_seq%'`,
        );
        return r.length > 0 ? r : null;
      }, 10_000, 'the result statement waiting');
      await rows.query('SELECT pg_terminate_backend($1)', [blocked.pid]);
    } finally {
      await locker.query('ROLLBACK').catch(() => {});
      await locker.end();
    }
    // Past the lease and a few sweeps.
    await settle(4_000);
    expect(sends.to(wa)).toEqual(['echo: hello']);
    expect((await rows.outbound(wa))[0].status).toBe('sent');
  });
});
