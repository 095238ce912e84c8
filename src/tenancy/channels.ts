import { sql, type Db } from '../db/db.ts';
import { decrypt, type SecretKeys } from '../shared/secrets.ts';
import { isRowId } from '../shared/ids.ts';

/** A channel with its secrets decrypted: lives only in this process's memory. */
export interface Channel {
  id: string;
  tenantId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
  accessToken: string;
  appSecret: string | null;
  verifyToken: string | null;
  messagesPerSecond: number;
  /** The WhatsApp Business Account its templates are synced from; null when not set. */
  wabaId: string | null;
}

const BY_ID = sql(
  'channel_by_id',
  `SELECT id, tenant_id, phone_number_id, display_phone_number, access_token_enc, app_secret_enc,
          verify_token_enc, messages_per_second, waba_id
   FROM channels WHERE id = $1`,
);

interface Row {
  id: string;
  tenant_id: string;
  phone_number_id: string;
  display_phone_number: string;
  access_token_enc: string;
  app_secret_enc: string | null;
  verify_token_enc: string | null;
  messages_per_second: number;
  waba_id: string | null;
}

const TTL_MS = 30_000;

/**
 * Channels by id, cached for a short while: sends and per-channel webhooks
 * need the decrypted token and secrets, and must not read them per message.
 */
export class ChannelDirectory {
  private readonly cache = new Map<string, { at: number; channel: Promise<Channel | null> }>();

  constructor(
    private readonly db: Db,
    /** WAGATE_SECRET_KEY, and WAGATE_SECRET_KEY_PREVIOUS during a rotation. */
    private readonly secretKey: SecretKeys,
  ) {}

  get(id: string): Promise<Channel | null> {
    if (!isRowId(id)) return Promise.resolve(null);
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < TTL_MS) return hit.channel;
    const channel = this.load(id);
    this.cache.set(id, { at: Date.now(), channel });
    channel.catch(() => this.cache.delete(id));
    return channel;
  }

  /** Forgets a channel after it changed here. */
  invalidate(id: string): void {
    this.cache.delete(id);
  }

  private async load(id: string): Promise<Channel | null> {
    const [r] = await this.db.query<Row>(BY_ID, [id]);
    if (!r) return null;
    const key = this.secretKey;
    return {
      id: r.id,
      tenantId: r.tenant_id,
      phoneNumberId: r.phone_number_id,
      displayPhoneNumber: r.display_phone_number,
      accessToken: decrypt(key, r.access_token_enc),
      appSecret: r.app_secret_enc ? decrypt(key, r.app_secret_enc) : null,
      verifyToken: r.verify_token_enc ? decrypt(key, r.verify_token_enc) : null,
      messagesPerSecond: r.messages_per_second,
      wabaId: r.waba_id,
    };
  }
}
