import type pg from 'pg';
import { sqlClient } from '../support/db.ts';

export interface InboundRow {
  id: string;
  wamid: string;
  body: string | null;
  disposition: string | null;
  turn_id: string | null;
}

export interface OutboundRow {
  id: string;
  author: string;
  body: string;
  status: string;
  error_code: number | null;
  error_title: string | null;
  turn_id: string | null;
}

export interface ConversationRow {
  id: string;
  tenant_id: string;
  paused: boolean;
  paused_until: Date | null;
  paused_by: string | null;
  lease_owner: string | null;
}

/**
 * Reads what the gateway stored, per customer, on a connection of its own
 * (outside the gateway's pool and round-trip counters). Customers are told
 * apart by wa_id: every test uses numbers of its own.
 */
export class ConversationRows {
  private constructor(private readonly client: pg.Client) {}

  static async open(url: string): Promise<ConversationRows> {
    return new ConversationRows(await sqlClient(url));
  }

  async query<R extends Record<string, unknown> = Record<string, any>>(text: string, params: unknown[] = []): Promise<R[]> {
    return (await this.client.query(text, params)).rows as R[];
  }

  /** The customer's messages, oldest first. */
  inbound(waId: string): Promise<InboundRow[]> {
    return this.query<InboundRow & Record<string, unknown>>(
      `SELECT m.id, m.wamid, m.body, m.disposition, m.turn_id::text AS turn_id
       FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contacts k ON k.id = c.contact_id
       WHERE k.wa_id = $1 AND m.direction = 'inbound' ORDER BY m.id`,
      [waId],
    );
  }

  /** What the gateway queued or sent to the customer, oldest first. */
  outbound(waId: string): Promise<OutboundRow[]> {
    return this.query<OutboundRow & Record<string, unknown>>(
      `SELECT m.id, m.author, m.body, m.status, m.error_code, m.error_title, m.turn_id::text AS turn_id
       FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contacts k ON k.id = c.contact_id
       WHERE k.wa_id = $1 AND m.direction = 'outbound' ORDER BY m.id`,
      [waId],
    );
  }

  /** The customer's conversation (undefined before the first message). */
  async conversation(waId: string): Promise<ConversationRow | undefined> {
    const [row] = await this.query<ConversationRow & Record<string, unknown>>(
      `SELECT c.id, c.tenant_id, c.paused, c.paused_until, c.paused_by, c.lease_owner::text AS lease_owner
       FROM conversations c JOIN contacts k ON k.id = c.contact_id WHERE k.wa_id = $1`,
      [waId],
    );
    return row;
  }

  /** The dispositions of the customer's messages, oldest first (null: still pending). */
  async dispositions(waId: string): Promise<(string | null)[]> {
    return (await this.inbound(waId)).map((m) => m.disposition);
  }

  /** True once every message of the customer has a disposition and nothing is left queued. */
  async settled(waId: string): Promise<boolean> {
    const [row] = await this.query<{ open: number }>(
      `SELECT count(*)::int AS open
       FROM messages m JOIN conversations c ON c.id = m.conversation_id JOIN contacts k ON k.id = c.contact_id
       WHERE k.wa_id = $1 AND ((m.direction = 'inbound' AND m.disposition IS NULL) OR (m.direction = 'outbound' AND m.status = 'queued'))`,
      [waId],
    );
    return row.open === 0;
  }

  close(): Promise<void> {
    return this.client.end();
  }
}
