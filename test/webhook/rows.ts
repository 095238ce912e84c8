import pg from 'pg';
import type { GatewayOverrides } from '../../src/app/overrides.ts';
import type { IngestResult } from '../../src/ingest/ingest.ts';
import { sqlClient } from '../support/db.ts';

/** Records what ingest handed over. */
export class RecordingConsumer {
  readonly received: IngestResult[] = [];
}

/**
 * Gateway overrides with no conversation runner: ingest's results go to a
 * recorder, so nothing but the webhook writes rows and dispositions stay as
 * ingest set them.
 */
export function ingestOnly(consumer = new RecordingConsumer()): GatewayOverrides {
  return { answer: false, onIngested: (result) => consumer.received.push(result) };
}

/** Reads a test database directly, outside the gateway's pool and counters. */
export class Rows {
  private constructor(private readonly client: pg.Client) {}

  static async open(url: string): Promise<Rows> {
    return new Rows(await sqlClient(url));
  }

  async query<R extends Record<string, unknown> = Record<string, any>>(text: string, params: unknown[] = []): Promise<R[]> {
    return (await this.client.query(text, params)).rows as R[];
  }

  /** The stored message with this WhatsApp id, or undefined. */
  async message(wamid: string): Promise<Record<string, any> | undefined> {
    const [row] = await this.query('SELECT * FROM messages WHERE wamid = $1', [wamid]);
    return row;
  }

  /** Rows of each tenant-data table: what "nothing stored" compares. */
  async counts(): Promise<{ contacts: number; conversations: number; messages: number }> {
    const [row] = await this.query<{ contacts: number; conversations: number; messages: number }>(
      `SELECT (SELECT count(*)::int FROM contacts) AS contacts,
              (SELECT count(*)::int FROM conversations) AS conversations,
              (SELECT count(*)::int FROM messages) AS messages`,
    );
    return row;
  }

  /** Messages of one channel, oldest first. */
  async messagesOf(channelId: string): Promise<Record<string, any>[]> {
    return this.query('SELECT * FROM messages WHERE channel_id = $1 ORDER BY id', [channelId]);
  }

  close(): Promise<void> {
    return this.client.end();
  }
}
