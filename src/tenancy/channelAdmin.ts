import { z } from 'zod';
import type { Db } from '../db/db.ts';
import { badRequest, notFound } from '../shared/errors.ts';
import { encrypt } from '../shared/secrets.ts';
import type { Actor, AuditLog } from './auditLog.ts';
import { CHANNEL_LIST, CHANNEL_MARK_REMOVED, CHANNEL_UPDATE } from './channelAdmin.sql.ts';
import { parseInput, type ChannelView } from './provision.ts';

export const channelPatchInput = z.strictObject({
  accessToken: z.string().min(1).max(4096).optional().describe('the new access token: stored encrypted, never shown'),
  messagesPerSecond: z.number().int().min(1).max(1000).optional(),
  wabaId: z.string().regex(/^[0-9]{1,32}$/, 'must be the WhatsApp Business Account id (digits)').nullable().optional().describe('the WhatsApp Business Account templates are synced from; null clears it'),
});

interface Row {
  id: string;
  tenant_id: string;
  phone_number_id: string;
  display_phone_number: string;
  messages_per_second: number;
  waba_id: string | null;
}

const view = (r: Row): ChannelView => ({
  id: r.id,
  tenantId: r.tenant_id,
  phoneNumberId: r.phone_number_id,
  displayPhoneNumber: r.display_phone_number,
  messagesPerSecond: r.messages_per_second,
  wabaId: r.waba_id,
});

/**
 * Channels after their creation: list, rotate the access token (or change the
 * send rate), remove. Every process forgets a changed channel at commit; each
 * change is recorded in the audit log in the same transaction.
 */
export class ChannelAdmin {
  constructor(
    private readonly db: Db,
    private readonly secretKey: Buffer,
    private readonly audit: AuditLog,
  ) {}

  /** A tenant's channels, oldest first. 404 for no such tenant. */
  async list(tenantId: string): Promise<ChannelView[]> {
    const rows = await this.db.query<Row & { id: string | null }>(CHANNEL_LIST, [tenantId]);
    if (rows.length === 0) throw notFound('tenant');
    return rows.filter((r) => r.id !== null).map(view);
  }

  /** Changes a channel: its access token (encrypted, write-only) or its send rate. */
  async update(channelId: string, input: unknown, actor: Actor): Promise<ChannelView> {
    const c = parseInput(channelPatchInput, input);
    if (c.accessToken === undefined && c.messagesPerSecond === undefined && c.wabaId === undefined) throw badRequest('invalid_request', 'give accessToken, messagesPerSecond or wabaId');
    return this.db.transaction(async (tx) => {
      const [r] = await tx.query<Row>(CHANNEL_UPDATE, [channelId, c.accessToken === undefined ? null : encrypt(this.secretKey, c.accessToken), c.messagesPerSecond ?? null, c.wabaId === undefined ? null : (c.wabaId ?? '')]);
      if (!r) throw notFound('channel');
      const detail: Record<string, unknown> = {};
      if (c.messagesPerSecond !== undefined) detail.messagesPerSecond = c.messagesPerSecond;
      if (c.wabaId !== undefined) detail.wabaId = c.wabaId;
      await this.audit.record(actor, { tenantId: r.tenant_id, action: c.accessToken !== undefined ? 'channel.token_rotated' : 'channel.updated', targetType: 'channel', targetId: r.id, detail }, tx);
      return view(r);
    });
  }

  /**
   * Removes a channel: it routes nothing from this commit on (webhooks for
   * its number are acknowledged as unroutable); housekeeping then removes its
   * contacts, conversations and messages in batches, and the row last.
   */
  async remove(channelId: string, actor: Actor): Promise<ChannelView> {
    return this.db.transaction(async (tx) => {
      const [r] = await tx.query<Row>(CHANNEL_MARK_REMOVED, [channelId]);
      if (!r) throw notFound('channel');
      await this.audit.record(actor, { tenantId: r.tenant_id, action: 'channel.removed', targetType: 'channel', targetId: r.id, detail: { phoneNumberId: r.phone_number_id } }, tx);
      return view(r);
    });
  }
}
