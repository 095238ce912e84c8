import pg from 'pg';
import type { SendLog } from '../conversation/customers.ts';
import { sign } from '../../src/webhook/signature.ts';
import { TEST_APP_SECRET } from './gateway.ts';
import { textNotification } from './webhooks.ts';

/** A customer message the gateway acknowledged with 200. */
export interface AckedMessage {
  wamid: string;
  waId: string;
  text: string;
  /** Epoch ms of the 200. */
  at: number;
}

/** One delivery attempt's outcome: an HTTP status, or 0 when no answer came (refused, reset, timed out). */
export interface Attempt {
  status: number;
  /** The error code of a non-200 answer's body (`unavailable`, `database_full` …). */
  code?: string;
  /** Epoch ms when the answer (or the failure) came. */
  at: number;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Customers writing steadily through the signed webhook, as Meta delivers:
 * each customer sends its next message `pauseMs` after the previous one was
 * acknowledged, and a notification that got no 200 (an error status, a
 * refused or dropped connection) is delivered again, the same bytes and
 * wamid, `redeliverMs` later, until it gets one. `stop` lets every customer
 * finish the message it is on, so nothing is left unacknowledged.
 */
export class SteadyCustomers {
  readonly acked: AckedMessage[] = [];
  readonly attempts: Attempt[] = [];
  private stopping = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly baseUrl: string,
    private readonly phoneNumberId: string,
    private readonly waIds: string[],
    private readonly opts: { pauseMs: number; redeliverMs: number },
  ) {}

  start(): void {
    this.loops = this.waIds.map((wa) => this.customer(wa));
  }

  private async customer(waId: string): Promise<void> {
    for (let k = 1; !this.stopping; k++) {
      const text = `message ${k} from ${waId}`;
      const n = textNotification(this.phoneNumberId, waId, text);
      const raw = JSON.stringify(n.body);
      for (;;) {
        const { status, code } = await this.post(raw);
        this.attempts.push({ status, code, at: Date.now() });
        if (status === 200) break;
        await pause(this.opts.redeliverMs);
      }
      this.acked.push({ wamid: n.wamid, waId, text, at: Date.now() });
      await pause(this.opts.pauseMs);
    }
  }

  private async post(raw: string): Promise<{ status: number; code?: string }> {
    try {
      const res = await fetch(this.baseUrl + '/webhooks/whatsapp', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-hub-signature-256': sign(raw, TEST_APP_SECRET) },
        body: raw,
        signal: AbortSignal.timeout(15_000),
      });
      const text = await res.text();
      if (res.status === 200) return { status: 200 };
      try {
        return { status: res.status, code: (JSON.parse(text) as { error?: { code?: string } }).error?.code };
      } catch {
        return { status: res.status };
      }
    } catch {
      return { status: 0 };
    }
  }

  /** Answers by status since `since` (epoch ms): `{ "200": n, "503": n, "0": n }`. */
  statuses(since = 0): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.attempts) if (a.at >= since) out[a.status] = (out[a.status] ?? 0) + 1;
    return out;
  }

  /** Non-200 answers since `since` by status and error code: `{ "503 unavailable": n }`. */
  failures(since = 0): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.attempts) {
      if (a.at < since || a.status === 200) continue;
      const k = `${a.status} ${a.code ?? ''}`.trim();
      out[k] = (out[k] ?? 0) + 1;
    }
    return out;
  }

  /**
   * The failures after `since`: when the first and last came, and the first
   * 200 after the last one (service back for good); nulls when none failed.
   */
  outage(since: number): { firstFailureAt: number | null; lastFailureAt: number | null; servingAgainAt: number | null } {
    const after = this.attempts.filter((a) => a.at >= since);
    const failures = after.filter((a) => a.status !== 200);
    if (failures.length === 0) return { firstFailureAt: null, lastFailureAt: null, servingAgainAt: null };
    const first = Math.min(...failures.map((a) => a.at));
    const last = Math.max(...failures.map((a) => a.at));
    const again = after.filter((a) => a.status === 200 && a.at >= last).map((a) => a.at);
    return { firstFailureAt: first, lastFailureAt: last, servingAgainAt: again.length ? Math.min(...again) : null };
  }

  /** Stops sending new messages; resolves once every customer's last message is acknowledged. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }
}

/** What became of the acknowledged messages, from the database and the Cloud API's log. */
export interface AnswerAccount {
  acknowledged: number;
  /** Acknowledged messages with no row: must be 0. */
  lost: string[];
  /** By disposition (answered, coalesced …); a message without one yet counts as 'none'. */
  dispositions: Record<string, number>;
  /** Turns answered: outbound agent replies, each sent once or more. */
  answers: number;
  /** Answers never accepted by the Cloud API. */
  unsent: string[];
  /** Turns with more than one answer row (a second answer, not a resend): must be 0. */
  doubleAnswers: number;
  /** Extra sends of the same reply (same outbound id): the duplicates, with their first send's time. */
  duplicates: { messageId: string; firstAt: number; sends: number }[];
}

/**
 * Settles, for every acknowledged message: stored once, a disposition,
 * and the turn's one answer sent; counts replies the Cloud API accepted
 * more than once. Reads on a connection of its own.
 */
export async function accountAnswers(dbUrl: string, acked: AckedMessage[], sends: SendLog): Promise<AnswerAccount> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const wamids = acked.map((a) => a.wamid);
    const inbound = await client.query<{ wamid: string; disposition: string | null }>(
      `SELECT wamid, disposition FROM messages WHERE direction = 'inbound' AND wamid = ANY($1::text[])`,
      [wamids],
    );
    const found = new Map(inbound.rows.map((r) => [r.wamid, r.disposition]));
    const dispositions: Record<string, number> = {};
    for (const w of wamids) {
      if (!found.has(w)) continue;
      const d = found.get(w) ?? 'none';
      dispositions[d] = (dispositions[d] ?? 0) + 1;
    }
    const outbound = await client.query<{ id: string; turn_id: string | null }>(`SELECT id::text, turn_id::text FROM messages WHERE direction = 'outbound' AND author = 'agent'`);
    const perTurn = new Map<string, number>();
    for (const r of outbound.rows) if (r.turn_id) perTurn.set(r.turn_id, (perTurn.get(r.turn_id) ?? 0) + 1);
    const sentById = new Map<string, number[]>();
    for (const s of sends.all) if (s.messageId) sentById.set(s.messageId, [...(sentById.get(s.messageId) ?? []), s.at]);
    return {
      acknowledged: acked.length,
      lost: wamids.filter((w) => !found.has(w)),
      dispositions,
      answers: outbound.rows.length,
      unsent: outbound.rows.filter((r) => !sentById.has(r.id)).map((r) => r.id),
      doubleAnswers: [...perTurn.values()].filter((n) => n > 1).length,
      duplicates: [...sentById.entries()].filter(([, at]) => at.length > 1).map(([messageId, at]) => ({ messageId, firstAt: Math.min(...at), sends: at.length })),
    };
  } finally {
    await client.end();
  }
}

/** Inbound messages without a disposition and replies still queued, on a connection of its own (0 when all is answered). */
export async function workLeft(dbUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM messages WHERE (direction = 'inbound' AND disposition IS NULL) OR (direction = 'outbound' AND status = 'queued')`,
    );
    return rows[0].n;
  } finally {
    await client.end();
  }
}
