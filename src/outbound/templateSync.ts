import type { Logger } from 'pino';
import type { Db } from '../db/db.ts';
import { AppError } from '../shared/errors.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import type { TemplateEvent } from '../webhook/normalize.ts';
import { CloudApiError, type CloudApi } from './types.ts';
import { SYNC_CHANNELS, TEMPLATE_EVENTS, TEMPLATES_REPLACE, type TemplateRecord } from './templates.sql.ts';

/** Pages read at most per sync (100 templates each): Meta allows a few hundred templates per account. */
const MAX_PAGES = 50;

/** One channel's sync result. */
export interface ChannelSync {
  channelId: string;
  /** Templates stored (upserted) by this sync. */
  synced: number;
  /** Stored templates Meta no longer lists, removed. */
  removed: number;
  /** Why the channel was not synced (no WhatsApp Business Account id, a Cloud API error); null when it was. */
  error: { code: string; message: string } | null;
}

/**
 * Keeps each channel's templates as its WhatsApp Business Account has them:
 * a sync lists them all (`GET /{waba-id}/message_templates`, page by page
 * with `paging.cursors.after`) and replaces the stored ones in one
 * statement. Template webhooks update the status, quality or category at
 * once and sync the account again in the background, since a webhook does
 * not carry the components.
 */
export class TemplateSync {
  /** One background sync per channel at a time; a webhook arriving meanwhile asks for one more. */
  private readonly running = new Map<string, { again: boolean }>();

  constructor(
    private readonly db: Db,
    private readonly cloudApi: CloudApi,
    private readonly channels: ChannelDirectory,
    private readonly log: Logger,
  ) {}

  /** Syncs the tenant's channels ($tenantId null: every channel, for the admin), or only `channelId`. */
  async sync(tenantId: string | null, channelId: string | null): Promise<ChannelSync[]> {
    const rows = await this.db.query<{ id: string; tenantId: string; wabaId: string | null }>(SYNC_CHANNELS, [tenantId, channelId]);
    if (channelId !== null && rows.length === 0) throw new AppError(404, 'not_found', 'channel not found');
    const out: ChannelSync[] = [];
    for (const r of rows) out.push(await this.syncChannel(r.id));
    return out;
  }

  /** Lists one channel's templates from Meta and stores them. */
  async syncChannel(channelId: string): Promise<ChannelSync> {
    this.channels.invalidate(channelId);
    const channel = await this.channels.get(channelId);
    if (!channel) return { channelId, synced: 0, removed: 0, error: { code: 'not_found', message: 'channel not found' } };
    if (!channel.wabaId) {
      return { channelId, synced: 0, removed: 0, error: { code: 'no_waba_id', message: 'the channel has no wabaId: set it to sync its templates' } };
    }
    const records: TemplateRecord[] = [];
    try {
      let after: string | null = null;
      for (let page = 0; page < MAX_PAGES; page++) {
        const res = await this.cloudApi.listTemplates(channel.wabaId, channel.accessToken, after);
        for (const t of res.data) {
          const rec = toRecord(t);
          if (rec) records.push(rec);
        }
        if (!res.after) break;
        after = res.after;
      }
    } catch (err) {
      if (!(err instanceof CloudApiError)) throw err;
      this.log.warn({ channelId, code: err.code, title: err.title }, 'template sync failed');
      return { channelId, synced: 0, removed: 0, error: { code: 'cloud_api_error', message: `the Cloud API answered ${err.code}: ${err.title}` } };
    }
    const [row] = await this.db.query<{ found: boolean; synced: number; removed: number }>(TEMPLATES_REPLACE, [channelId, JSON.stringify(records)]);
    if (!row.found) return { channelId, synced: 0, removed: 0, error: { code: 'not_found', message: 'channel not found' } };
    this.log.info({ channelId, synced: row.synced, removed: row.removed }, 'templates synced');
    return { channelId, synced: row.synced, removed: row.removed, error: null };
  }

  /**
   * Template webhooks: the new status, quality or category is stored at once,
   * then the account's channels are synced again in the background. On a
   * channel's own webhook URL (`onlyTenantOfChannel`), a tenant's app can
   * touch only that tenant's channels, whatever account id it names.
   */
  async onEvents(events: TemplateEvent[], onlyTenantOfChannel: string | null = null): Promise<void> {
    if (events.length === 0) return;
    const rows = await this.db.query<{ channelId: string; updated: number }>(TEMPLATE_EVENTS, [JSON.stringify(events), onlyTenantOfChannel]);
    for (const r of rows) this.syncInBackground(r.channelId);
  }

  private syncInBackground(channelId: string): void {
    const run = this.running.get(channelId);
    if (run) {
      run.again = true;
      return;
    }
    const state = { again: false };
    this.running.set(channelId, state);
    const loop = async () => {
      do {
        state.again = false;
        await this.syncChannel(channelId).catch((err) => this.log.warn({ err, channelId }, 'template sync after a webhook failed'));
      } while (state.again);
      this.running.delete(channelId);
    };
    void loop();
  }

  /** Resolves when no background sync is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await new Promise((r) => setTimeout(r, 20));
  }
}

/** One of Meta's template objects as a record, or null when it lacks a name, language or status. */
function toRecord(t: unknown): TemplateRecord | null {
  if (typeof t !== 'object' || t === null) return null;
  const o = t as Record<string, unknown>;
  const s = (v: unknown) => (typeof v === 'string' && v.length > 0 ? v : null);
  const name = s(o.name);
  const language = s(o.language);
  const status = s(o.status);
  if (!name || !language || !status) return null;
  const quality = o.quality_score && typeof o.quality_score === 'object' ? s((o.quality_score as { score?: unknown }).score) : null;
  return {
    metaId: typeof o.id === 'string' || typeof o.id === 'number' ? String(o.id) : null,
    name,
    language,
    category: s(o.category),
    status,
    quality,
    parameterFormat: s(o.parameter_format)?.toUpperCase() ?? 'POSITIONAL',
    components: Array.isArray(o.components) ? o.components : [],
  };
}
