import { randomUUID } from 'node:crypto';
import type { Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentDispatcher } from '../../src/agent/postJson.ts';
import { ToolCaller, type ToolTurn } from '../../src/agent/tools/toolCaller.ts';
import type { ToolSession } from '../../src/agent/types.ts';
import { EgressPolicy, parseEgressAllow } from '../../src/shared/egress.ts';
import { encrypt } from '../../src/shared/secrets.ts';
import { toTenantTools, type TenantToolRow } from '../../src/tenancy/tools.ts';
import { sqlClient } from '../support/db.ts';
import { provisionTenant, startTestGateway, TEST_SECRET_KEY, type TestGateway } from '../support/gateway.ts';
import { newWaId } from '../conversation/customers.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { ToolServer } from './toolServer.ts';

const SECRET = 'caller-secret';
const key = Buffer.from(TEST_SECRET_KEY, 'hex');

/**
 * ToolCaller against a real database and a real endpoint: the rule that a
 * call is not repeated for the same unanswered messages holds across
 * processes (a second ToolCaller is a process that took the turn over after
 * a crash), and only there.
 */
describe('ToolCaller: each call recorded, never repeated for the same unanswered messages', () => {
  let gw: TestGateway;
  let tool: ToolServer;
  let allowed: Dispatcher;
  let strict: Dispatcher;
  let turn: Omit<ToolTurn, 'turnId'>;
  let laterMessage: string;

  const row = (over: Partial<TenantToolRow> = {}): TenantToolRow => ({
    id: '1',
    name: 'lookup',
    description: 'Looks something up',
    parameters: { type: 'object', properties: { q: { type: 'string' }, n: { type: 'integer' } }, required: ['q'] },
    url: tool.url + '/lookup',
    secret_enc: encrypt(key, SECRET),
    safe_to_repeat: false,
    timeout_ms: 5_000,
    ...over,
  });
  /** A session as one process's turn would open it. */
  const session = (caller: ToolCaller, t: Partial<ToolTurn> = {}, over: Partial<TenantToolRow> = {}): ToolSession =>
    caller.session({ ...turn, turnId: randomUUID(), ...t }, toTenantTools([row(over)], key))!;
  const never = new AbortController().signal;
  const rows = async () => {
    const c = await sqlClient(gw.dbUrl);
    try {
      return (await c.query(`SELECT name, status, args_hash, turn_id::text AS turn_id, opened_by::text AS opened_by, result FROM tool_calls ORDER BY id`)).rows;
    } finally {
      await c.end();
    }
  };

  beforeAll(async () => {
    tool = await ToolServer.start(SECRET);
    gw = await startTestGateway();
    allowed = createAgentDispatcher({ egress: new EgressPolicy({ allow: parseEgressAllow(tool.host) }) });
    strict = createAgentDispatcher({ egress: new EgressPolicy() });
    const t = await provisionTenant(gw);
    const wa = newWaId();
    expect((await postWebhook(gw.url, textNotification(t.phoneNumberId, wa, 'first').body)).status).toBe(200);
    expect((await postWebhook(gw.url, textNotification(t.phoneNumberId, wa, 'second').body)).status).toBe(200);
    const c = await sqlClient(gw.dbUrl);
    try {
      const { rows: m } = await c.query(`SELECT id::text, conversation_id::text FROM messages WHERE tenant_id = $1 ORDER BY id`, [t.tenant.id]);
      turn = { tenantId: t.tenant.id, conversationId: m[0].conversation_id, openedBy: m[0].id, contact: { waId: wa, userId: null, name: null } };
      laterMessage = m[1].id;
    } finally {
      await c.end();
    }
  });
  afterAll(async () => {
    await allowed?.close();
    await strict?.close();
    await gw?.stop();
    await tool?.close();
  });

  it('a second process (a takeover after a crash) reuses the recorded result of an identical call; other calls go out', async () => {
    tool.requests.length = 0;
    const first = await session(new ToolCaller(gw.db, () => allowed)).call('lookup', '{"q":"a","n":1}', never);
    expect(first).toBe('{"ok":true,"echo":{"q":"a","n":1}}');
    expect(tool.requests).toHaveLength(1);
    expect(tool.requests[0].signed).toBe(true);
    // Another process, a new turn id, the same unanswered messages, the same arguments in another order: no call.
    const takeover = new ToolCaller(gw.db, () => allowed);
    const turnId = randomUUID();
    expect(await session(takeover, { turnId }).call('lookup', '{"n":1,"q":"a"}', never)).toBe(first);
    expect(tool.requests).toHaveLength(1);
    const recorded = (await rows()).filter((r) => r.name === 'lookup');
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({ status: 'ok', turn_id: turnId, result: first });
    // Other arguments are another call; a later turn (other unanswered messages) calls again.
    await session(takeover).call('lookup', '{"q":"b"}', never);
    expect(tool.requests).toHaveLength(2);
    await session(takeover, { openedBy: laterMessage }).call('lookup', '{"q":"a","n":1}', never);
    expect(tool.requests).toHaveLength(3);
  });

  it('arguments over 16 KiB are refused unsent', async () => {
    tool.requests.length = 0;
    const out = await session(new ToolCaller(gw.db, () => allowed)).call('lookup', JSON.stringify({ q: 'x'.repeat(20_000) }), never);
    expect(JSON.parse(out).error).toMatch(/longer than 16384 characters.*not called/);
    expect(tool.requests).toHaveLength(0);
  });

  it('a tool marked safeToRepeat is called every time', async () => {
    tool.requests.length = 0;
    const caller = new ToolCaller(gw.db, () => allowed);
    for (let i = 0; i < 2; i++) await session(caller, {}, { name: 'again', safe_to_repeat: true }).call('again', '{"q":"x"}', never);
    expect(tool.requests).toHaveLength(2);
  });

  it('a call left running by a process that died is not made again: the model is told its result is unknown', async () => {
    tool.requests.length = 0;
    const caller = new ToolCaller(gw.db, () => allowed);
    const s = session(caller, {}, { name: 'crashed' });
    // What a process that died mid-call leaves: a running row (made here by a call it could not finish).
    const c = await sqlClient(gw.dbUrl);
    try {
      const { createHash } = await import('node:crypto');
      const hash = createHash('sha256').update('crashed').update('\0').update('{"q":"z"}').digest('hex');
      await c.query(
        `INSERT INTO tool_calls (tenant_id, conversation_id, opened_by, turn_id, name, arguments, args_hash, status)
         VALUES ($1, $2, $3, $4, 'crashed', '{"q":"z"}', $5, 'running')`,
        [turn.tenantId, turn.conversationId, turn.openedBy, randomUUID(), hash],
      );
    } finally {
      await c.end();
    }
    expect(JSON.parse(await s.call('crashed', '{"q":"z"}', never)).error).toMatch(/interrupted.*not repeated/);
    expect(tool.requests).toHaveLength(0);
  });

  it('a timeout, an error status, a body over 64 KiB, a NUL and a refused address are results the model reads; each recorded', async () => {
    const caller = new ToolCaller(gw.db, () => allowed);
    let release!: () => void;
    tool.hold = new Promise<void>((r) => (release = r));
    try {
      const out = await session(caller, {}, { name: 'slow', timeout_ms: 200 }).call('slow', '{"q":"t"}', never);
      expect(JSON.parse(out).error).toMatch(/no answer within 200 ms/);
    } finally {
      tool.hold = null;
      release();
    }
    tool.answer = () => ({ status: 503, body: { down: true } });
    expect(JSON.parse(await session(caller, {}, { name: 'down' }).call('down', '{"q":"e"}', never))).toMatchObject({ error: 'the tool answered HTTP 503' });
    tool.answer = () => ({ body: { big: 'x'.repeat(70_000) } });
    expect(JSON.parse(await session(caller, {}, { name: 'big' }).call('big', '{"q":"b"}', never)).error).toMatch(/more than 65536 bytes/);
    // A NUL in the answer (which PostgreSQL's text cannot hold) is dropped; the rest is the result.
    tool.answer = () => ({ raw: 'a\0b' });
    expect(await session(caller, {}, { name: 'nul' }).call('nul', '{"q":"n"}', never)).toBe('ab');
    tool.answer = (b) => ({ body: { ok: true, echo: b?.arguments } });
    const before = tool.requests.length;
    const refused = await session(new ToolCaller(gw.db, () => strict), {}, { name: 'refused' }).call('refused', '{"q":"r"}', never);
    expect(JSON.parse(refused).error).toMatch(/refused/);
    expect(tool.requests.length).toBe(before);
    const byName = new Map((await rows()).map((r) => [r.name, r.status]));
    expect(Object.fromEntries(['slow', 'down', 'big', 'nul', 'refused'].map((n) => [n, byName.get(n)]))).toEqual({ slow: 'timeout', down: 'error', big: 'error', nul: 'ok', refused: 'error' });
  });
});
