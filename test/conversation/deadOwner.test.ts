import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOCK_AND_REGISTER, lockKeyOf } from '../../src/db/processLock.ts';
import { sqlClient } from '../support/db.ts';
import { provisionTenant } from '../support/gateway.ts';
import { eventually, startPipeline } from '../support/pipeline.ts';
import { closeConversationTest, openConversationTest, type ConversationTest } from './harness.ts';
import { Customers, newWaId, settle } from './customers.ts';

/** The backend holding an owner's liveness lock (null when none holds it). */
const LOCK_HOLDER = `
SELECT l.pid FROM pg_locks l JOIN gateway_processes g ON ((l.classid::int8 << 32) | l.objid::int8) = g.lock_key
WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted AND g.owner = $1`;

/**
 * docs/architecture.md, "Leases of a killed process": a process proves it
 * lives by a session-level advisory lock; a registered owner whose lock is
 * gone is dead, and its leases are taken within a second instead of after
 * they run out. A live owner's lease is never taken before it runs out, and a
 * process whose own lock dropped acts on no lease until it has the lock back
 * and has checked which leases are still its own.
 */
describe('leases of a dead process are taken at once; a live one keeps its own', () => {
  let t: ConversationTest;
  let customers: Customers;
  let sql: pg.Client;
  const others: pg.Client[] = [];
  let owner: string;

  beforeAll(async () => {
    t = await openConversationTest();
    owner = t.h.gw.leaseOwner;
    const { phoneNumberId } = await provisionTenant(t.h.gw, { agent: { provider: 'openai', markReadWithTyping: false } });
    customers = new Customers(t.h.gw.url, phoneNumberId);
    sql = await sqlClient(t.h.gw.dbUrl);
  });
  afterAll(async () => {
    for (const c of others) await c.end().catch(() => {});
    await sql?.end();
    await closeConversationTest(t);
  });

  /** Another "process": a session of its own holding the lock of a new owner id, registered. */
  async function otherProcess(): Promise<{ owner: string; client: pg.Client; pid: number }> {
    const client = await sqlClient(t.h.gw.dbUrl);
    client.on('error', () => {});
    others.push(client);
    const other = randomUUID();
    await client.query(LOCK_AND_REGISTER, [other, lockKeyOf(other)]);
    const [{ pid }] = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows;
    return { owner: other, client, pid };
  }

  /** A customer answered once already, whose conversation is then leased as `set` says (and lease free until then). */
  async function conversationOf(wa: string, set: string, params: unknown[]): Promise<void> {
    await customers.say(wa, `hello from ${wa}`);
    await eventually(async () => (await t.rows.conversation(wa))?.lease_owner === null && t.sends.to(wa).length === 1, 10_000, 'the first answer');
    await sql.query(`UPDATE conversations SET ${set} WHERE contact_id = (SELECT id FROM contacts WHERE wa_id = $1)`, [wa, ...params]);
  }

  it("a dead owner's lease is taken within seconds; a live owner's is not, until it runs out; an unregistered owner keeps the clock", async () => {
    const dying = await otherProcess();
    const live = await otherProcess();
    const unregistered = randomUUID();
    const [dead, alive, ranOut, plain] = [newWaId(), newWaId(), newWaId(), newWaId()];
    const leaseFor15s = `lease_owner = $2::uuid, lease_until = now() + interval '15 seconds'`;
    await conversationOf(dead, leaseFor15s, [dying.owner]);
    await conversationOf(alive, leaseFor15s, [live.owner]);
    await conversationOf(ranOut, `lease_owner = $2::uuid, lease_until = now() - interval '1 second'`, [live.owner]);
    await conversationOf(plain, leaseFor15s, [unregistered]);
    const leasedAt = Date.now();
    for (const wa of [dead, alive, ranOut, plain]) await customers.say(wa, `again from ${wa}`);

    // A live owner whose lease ran out loses it as before: at once.
    await eventually(() => t.sends.to(ranOut).length === 2, 10_000, 'the answer where the lease ran out');
    // Ten sweeps later, no lease of a live or unregistered owner was taken.
    await settle(2_000);
    for (const wa of [dead, alive, plain]) expect(t.sends.to(wa), wa).toHaveLength(1);
    expect((await t.rows.conversation(dead))?.lease_owner).toBe(dying.owner);

    // The dying process's session ends (as SIGKILL ends a process's sessions).
    await sql.query('SELECT pg_terminate_backend($1)', [dying.pid]);
    const diedAt = Date.now();
    await eventually(() => t.sends.to(dead).length === 2, 10_000, "the dead owner's conversation answered");
    const tookMs = Date.now() - diedAt;
    // Its lease had 15 s to run from leasedAt: taken long before.
    expect(Date.now() - leasedAt).toBeLessThan(14_000);
    expect(tookMs).toBeLessThan(10_000);
    expect(t.sends.to(dead)).toEqual([`echo: hello from ${dead}`, `echo: again from ${dead}`]);
    const registered = (await sql.query<{ owner: string }>('SELECT owner::text AS owner FROM gateway_processes')).rows.map((r) => r.owner);
    expect(registered.sort()).toEqual([owner, live.owner].sort());

    // Still within their 15 s: the live owner and the unregistered one keep theirs.
    for (const wa of [alive, plain]) expect(t.sends.to(wa), wa).toHaveLength(1);
    expect((await t.rows.conversation(alive))?.lease_owner).toBe(live.owner);
    expect((await t.rows.conversation(plain))?.lease_owner).toBe(unregistered);
    expect(Date.now() - leasedAt).toBeLessThan(14_000);
  });

  /**
   * Cuts this gateway's liveness lock: a waiting session is queued for the
   * lock key first, so it gets the lock when the gateway's session ends and
   * the gateway's own attempts to take it again wait behind it.
   */
  async function cutLock(): Promise<{ giveBack: () => Promise<void> }> {
    const [{ pid }] = (await sql.query<{ pid: number }>(LOCK_HOLDER, [owner])).rows;
    const thief = await sqlClient(t.h.gw.dbUrl);
    thief.on('error', () => {});
    others.push(thief);
    const locked = thief.query('SELECT pg_advisory_lock($1::bigint)', [lockKeyOf(owner)]);
    await eventually(
      async () => (await sql.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND pid = $1`, [(thief as any).processID])).rowCount === 1,
      10_000,
      'the other session waiting for the lock',
    );
    await sql.query('SELECT pg_terminate_backend($1)', [pid]);
    await locked;
    return { giveBack: () => thief.end() };
  }

  it('a process whose lock connection dropped sends nothing until it has the lock back and its leases checked', async () => {
    const wa = newWaId();
    t.h.model.setLatency(800);
    try {
      await customers.say(wa, 'is my order late?');
      await eventually(() => t.h.model.inflight > 0, 10_000, 'the agent call');
      const { giveBack } = await cutLock();
      // The agent answers and the reply commits (its statement checks the lease), but the send waits.
      await eventually(async () => (await t.rows.outbound(wa))[0]?.status === 'queued', 10_000, 'the reply committed');
      await settle(1_000);
      expect(t.sends.to(wa)).toEqual([]);
      expect((await t.rows.conversation(wa))?.lease_owner).toBe(owner);

      await giveBack();
      await eventually(() => t.sends.to(wa).length === 1, 10_000, 'the send once the lock is back');
      await eventually(async () => (await sql.query(LOCK_HOLDER, [owner])).rowCount === 1, 10_000, 'the lock held again');
      await settle(300);
      expect(t.sends.to(wa)).toEqual(['echo: is my order late?']);
    } finally {
      t.h.model.setLatency(0);
    }
  });

  it('a lease another process took while the lock was down is dropped when the lock comes back: one send, by the new holder', async () => {
    const wa = newWaId();
    const other = await otherProcess();
    t.h.model.setLatency(800);
    try {
      await customers.say(wa, 'where is my refund?');
      await eventually(() => t.h.model.inflight > 0, 10_000, 'the agent call');
      const { giveBack } = await cutLock();
      await eventually(async () => (await t.rows.outbound(wa))[0]?.status === 'queued', 10_000, 'the reply committed');
      // Meanwhile another process holds the conversation.
      await sql.query(
        `UPDATE conversations SET lease_owner = $2::uuid, lease_until = now() + interval '15 seconds' WHERE contact_id = (SELECT id FROM contacts WHERE wa_id = $1)`,
        [wa, other.owner],
      );
      await giveBack();
      await eventually(async () => (await sql.query(LOCK_HOLDER, [owner])).rowCount === 1, 10_000, 'the lock held again');
      // Renewals every second: the check after the lock came back and then some.
      await settle(2_500);
      expect(t.sends.to(wa)).toEqual([]);
      expect((await t.rows.outbound(wa)).map((o) => o.status)).toEqual(['queued']);
      expect((await t.rows.conversation(wa))?.lease_owner).toBe(other.owner);

      // The other process dies with the reply queued: it may have handed it to the Cloud API, so its
      // lease is cut to the settle time, not the grace, for a status to tell; then this one sends it.
      await other.client.end();
      const diedAt = Date.now();
      await settle(2_000);
      expect(t.sends.to(wa)).toEqual([]);
      await eventually(() => t.sends.to(wa).length === 1, 10_000, 'the reply sent once the settle time is over');
      // Well before the 15 s the lease had.
      expect(Date.now() - diedAt).toBeLessThan(12_000);
      await settle(300);
      expect(t.sends.to(wa)).toEqual(['echo: where is my refund?']);
    } finally {
      t.h.model.setLatency(0);
    }
  });

  it('a live process whose lock connection drops again and again keeps its conversation: another process sweeping meanwhile takes nothing', async () => {
    const b = await startPipeline({ dbUrl: t.h.gw.dbUrl, cloud: t.h.cloud, model: t.h.model });
    // Sends per process, by conversation (the earlier tests' leftovers may be answered meanwhile).
    const sentBy: { by: string; conversationId: string }[] = [];
    const offA = t.h.gw.bus.on('message.out', (e) => sentBy.push({ by: 'a', conversationId: e.conversationId }));
    const offB = b.gw.bus.on('message.out', (e) => sentBy.push({ by: 'b', conversationId: e.conversationId }));
    const wa = newWaId();
    t.h.model.setLatency(1_500);
    try {
      await customers.say(wa, 'can I change my address?');
      await eventually(() => t.h.model.inflight > 0, 10_000, 'the agent call');
      for (let i = 0; i < 3; i++) {
        const [{ pid }] = (await sql.query<{ pid: number }>(LOCK_HOLDER, [owner])).rows;
        await sql.query('SELECT pg_terminate_backend($1)', [pid]);
        await eventually(async () => (await sql.query<{ pid: number }>(LOCK_HOLDER, [owner])).rows[0]?.pid !== pid && (await sql.query(LOCK_HOLDER, [owner])).rowCount === 1, 10_000, 'the lock taken again');
      }
      await eventually(() => t.sends.to(wa).length === 1, 10_000, 'the answer');
      await eventually(async () => (await t.rows.conversation(wa))?.lease_owner === null, 10_000, 'the lease given back');
      await settle(1_500);
      expect(t.sends.to(wa)).toEqual(['echo: can I change my address?']);
      const conversationId = (await t.rows.conversation(wa))!.id;
      expect(sentBy.filter((e) => e.conversationId === conversationId).map((e) => e.by)).toEqual(['a']);
    } finally {
      offA();
      offB();
      t.h.model.setLatency(0);
      await b.close();
    }
  });
});
