import { unlink } from 'node:fs/promises';
import type { Logger } from 'pino';
import { Agent as UndiciAgent, type Dispatcher } from 'undici';
import { textFormOf } from '../agent/textForm.ts';
import type { AgentMessage } from '../agent/types.ts';
import type { Db } from '../db/db.ts';
import type { Bus } from '../shared/bus.ts';
import type { IngestResult } from '../ingest/ingest.ts';
import { mediaKey, type MediaStore } from '../shared/mediaStore.ts';
import { Semaphore } from '../shared/semaphore.ts';
import type { AgentConfig } from '../tenancy/agentConfig.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import type { TenantDirectory } from '../tenancy/tenantSettings.ts';
import { downloadMedia, MediaError, type Downloaded, type MediaRef } from './download.ts';
import { isMediaKind, type MediaKind } from './kinds.ts';
import { MEDIA_OPEN, MEDIA_SETTLE, MEDIA_STATE, MEDIA_TIMED_OUT, type MediaRow, type OpenedMediaRow } from './media.sql.ts';
import { SPOOL_STALE_MS, sweepSpool } from './spool.ts';
import { pdfText, PDF_MAX_BYTES, transcribe, visionDataUrl, type TranscriptionTarget } from './understand.ts';

/** A customer message as the lane needs it (a PendingMessage or a stored row). */
export interface MediaMessage {
  id: string;
  type: string;
  body: string | null;
  media: Record<string, unknown> | null;
}

/** What the lane settled for a message: its `media` with the `file` summary, and the row. */
interface Settled {
  media: Record<string, unknown> | null;
  row: { id: string; kind: string; status: string; storageKey: string | null; mime: string | null; size: number | null };
}

/** The settings of the lane (Config.media and what the gateway wires). */
export interface MediaLaneOptions {
  /** The Cloud API base URL media ids are looked up at. */
  apiBase: string;
  /** Where downloads are spooled before they are stored. */
  spoolDir: string;
  concurrency: number;
  /** How long a turn waits for its media. */
  waitMs: number;
  /** OPENAI_TRANSCRIPTION_MODEL: the model of tenants that set none; null: none. */
  transcriptionModel: string | null;
  /** The process's model endpoint (OPENAI_BASE_URL / OPENAI_API_KEY). */
  openai: { baseUrl: string; apiKey: string | null };
  /** The dispatcher for a tenant's own model URL (egress policy) and the operator's. */
  tenantDispatcher: Dispatcher;
  dispatcher: Dispatcher;
  /** Waits between attempts after a temporary failure (tests shorten them). */
  backoffMs?: readonly number[];
}

const DEFAULT_BACKOFF_MS = [500, 2_000, 8_000];
/** A pending row younger than this, made by another process, is that process's to finish. */
const ANOTHER_PROCESS_S = 120;
/** How often a row another process works on is read again. */
const POLL_MS = 250;
/** Settled messages remembered, for the history of later turns (oldest forgotten first). */
const REMEMBERED = 2_000;
/** Images kept ready for the model, resized. */
const VISION_CACHE = 64;

/**
 * The media lane: fetches, keeps and understands each inbound media message
 * promptly after ingest, in its own bounded lane (WAGATE_MEDIA_CONCURRENCY),
 * so that a text turn never waits behind media. A turn that includes a media
 * message waits for that message only, at most WAGATE_MEDIA_WAIT_MS, and
 * gets its text form with what was understood (transcript, PDF text, file
 * facts) and, for a model that takes images, the image itself. Outcomes are
 * written to the `media` row and to the message's `media.file` in one
 * statement, so the history read later carries them without another read.
 */
export class MediaLane {
  private readonly lane: Semaphore;
  private readonly jobs = new Map<string, Promise<Settled>>();
  private readonly settled = new Map<string, Settled>();
  private readonly vision = new Map<string, Promise<string | null>>();
  private readonly download: Dispatcher;
  private readonly stopping = new AbortController();
  private readonly sweeps: Promise<void>[] = [];
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly store: MediaStore,
    private readonly channels: ChannelDirectory,
    private readonly tenants: TenantDirectory,
    private readonly opts: MediaLaneOptions,
  ) {
    this.lane = new Semaphore(opts.concurrency);
    this.download = new UndiciAgent({ keepAliveTimeout: 30_000, headersTimeout: 30_000, bodyTimeout: 60_000 });
    this.cleanSpool(new Date());
  }

  /**
   * Removes the spool files a crash left: at start those older than the start
   * (and unchanged for SPOOL_STALE_MS, so another live process's file stays),
   * and once more when that time has passed, for the files of a crash just
   * before this start.
   */
  private cleanSpool(startedAt: Date): void {
    const sweep = () => {
      const p = sweepSpool(this.opts.spoolDir, startedAt).then(
        (n) => {
          if (n > 0) this.log.info({ removed: n, dir: this.opts.spoolDir }, 'removed spool files left by an earlier process');
        },
        (err: unknown) => this.log.warn({ err, dir: this.opts.spoolDir }, 'spool files could not be cleaned'),
      );
      this.sweeps.push(p);
    };
    sweep();
    this.sweepTimer = setTimeout(sweep, SPOOL_STALE_MS);
    this.sweepTimer.unref();
  }

  /** Starts the work on every media message a committed ingest stored; never blocks the webhook. */
  onIngested(result: IngestResult): void {
    for (const c of result.conversations) {
      for (const m of c.messages) {
        if (m.direction === 'inbound' && isMediaKind(m.type)) void this.start(c.tenantId, c.channelId, m).catch(() => {});
      }
    }
  }

  /**
   * The agent's messages for a turn's customer messages: each media message
   * waits for its processing (bounded), then reads as its text form with
   * what was understood; images come along when the tenant's model takes
   * them. Messages without media are returned at once.
   */
  async turnMessages(tenantId: string, channelId: string, batch: readonly MediaMessage[], cfg: AgentConfig, signal: AbortSignal): Promise<AgentMessage[]> {
    const out: AgentMessage[] = [];
    const waited = await Promise.all(batch.map((m) => (isMediaKind(m.type) ? this.waitFor(tenantId, channelId, m, signal) : Promise.resolve(null))));
    for (let i = 0; i < batch.length; i++) {
      const m = batch[i];
      const s = waited[i];
      const content = textFormOf({ type: m.type, body: m.body, media: s?.media ?? m.media });
      if (content === null) continue;
      const msg: AgentMessage = { role: 'user', content };
      if (cfg.vision && s && (m.type === 'image' || m.type === 'sticker') && s.row.storageKey) {
        const url = await this.visionOf(s.row.id, s.row.storageKey);
        if (url) msg.images = [url];
      }
      out.push(msg);
    }
    return out;
  }

  /** A stored message with what this process settled of its media since it was read. */
  withSettled<T extends MediaMessage>(m: T): T {
    const s = isMediaKind(m.type) ? this.settled.get(m.id) : undefined;
    return s ? { ...m, media: s.media } : m;
  }

  /** Cancels the work in progress and closes the downloads' connections. */
  async stop(): Promise<void> {
    this.stopping.abort(new Error('media lane stopped'));
    clearTimeout(this.sweepTimer);
    await Promise.allSettled([...this.jobs.values(), ...this.sweeps]);
    await this.download.close();
  }

  private async waitFor(tenantId: string, channelId: string, m: MediaMessage, signal: AbortSignal): Promise<Settled | null> {
    const known = this.settled.get(m.id);
    if (known) return known;
    const job = this.start(tenantId, channelId, m);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.opts.waitMs)));
    const aborted = new Promise<'aborted'>((resolve) => signal.addEventListener('abort', () => resolve('aborted'), { once: true }));
    try {
      const r = await Promise.race([job.catch(() => null), timeout, aborted]);
      if (r === 'timeout') {
        this.log.info({ tenantId, messageId: m.id }, 'media not ready in time; the agent gets its text form');
        void this.markTimedOut(m.id);
        return null;
      }
      if (r === 'aborted') {
        signal.throwIfAborted();
        return null;
      }
      return r;
    } finally {
      clearTimeout(timer);
    }
  }

  private markTimedOut(messageId: string): Promise<void> {
    return this.db
      .query(MEDIA_TIMED_OUT, [messageId])
      .then(() => undefined)
      .catch((err) => this.log.debug({ err, messageId }, 'noting a media timeout failed'));
  }

  private start(tenantId: string, channelId: string, m: MediaMessage): Promise<Settled> {
    let job = this.jobs.get(m.id);
    if (!job) {
      job = this.lane.run(() => this.process(tenantId, channelId, m)).finally(() => this.jobs.delete(m.id));
      this.jobs.set(m.id, job);
      job.then(
        (s) => this.remember(m.id, s),
        (err) => this.log.warn({ err, tenantId, messageId: m.id }, 'media processing failed'),
      );
    }
    return job;
  }

  private remember(messageId: string, s: Settled): void {
    this.settled.set(messageId, s);
    if (this.settled.size > REMEMBERED) this.settled.delete(this.settled.keys().next().value!);
  }

  /** One media message, start to end: the row, the download with retries, understanding, the store, the outcome. */
  private async process(tenantId: string, channelId: string, m: MediaMessage): Promise<Settled> {
    const kind = m.type as MediaKind;
    const media = m.media ?? {};
    const str = (v: unknown) => (typeof v === 'string' && v ? v : null);
    const [row] = await this.db.query<OpenedMediaRow>(MEDIA_OPEN, [tenantId, m.id, kind, str(media.id) ?? '', str(media.mime_type), str(media.filename)]);
    if (!row) throw new Error(`message ${m.id} is gone`);
    if (row.status !== 'pending') return { media: m.media, row: rowSummary(row) };
    // Another process (the one that ingested it) is on it: wait for its outcome rather than fetch the file twice.
    if (!row.mine && row.attempts === 0 && row.age_s < ANOTHER_PROCESS_S) {
      const theirs = await this.outcomeOf(row);
      if (theirs) return theirs;
    }
    const ref: MediaRef = { kind, waMediaId: row.wa_media_id, declaredMime: str(media.mime_type), sha256: str(media.sha256), animated: media.animated === true };
    const started = performance.now();
    let got: Downloaded | null = null;
    const outcome: Record<string, unknown> = {};
    try {
      if (!ref.waMediaId) throw new MediaError('unsupported', 'the webhook gave no media id');
      const channel = await this.channels.get(channelId);
      if (!channel) throw new MediaError('download_failed', 'the channel is gone');
      got = await this.withRetries(() => downloadMedia(ref, { apiBase: this.opts.apiBase, token: channel.accessToken, dispatcher: this.download, spoolDir: this.opts.spoolDir, signal: this.stopping.signal }));
      Object.assign(outcome, { status: 'ready', mime: got.mime, size: got.size, sha256: got.sha256 });
      await this.understand(tenantId, kind, got, str(media.filename), outcome);
      const key = mediaKey(tenantId, row.id);
      await this.store.putFile(key, got.file, got.size, got.mime);
      outcome.storageKey = key;
    } catch (err) {
      if (this.stopping.signal.aborted) throw err;
      const e = err instanceof MediaError ? err : null;
      if (!e) this.log.warn({ err, tenantId, messageId: m.id }, 'media processing failed');
      Object.assign(outcome, { status: 'failed', error: e?.code ?? 'download_failed' });
    } finally {
      if (got) await unlink(got.file).catch(() => {});
    }
    const [res] = await this.db.query<{ media: Record<string, unknown> | null; kept: boolean }>(MEDIA_SETTLE, [row.id, JSON.stringify(outcome)]);
    if (!res.kept && typeof outcome.storageKey === 'string') await this.store.remove([outcome.storageKey]).catch(() => {});
    const ms = performance.now() - started;
    this.bus.emit('media.settled', { tenantId, kind, status: String(outcome.status), error: (outcome.error as string | undefined) ?? null, ms });
    this.log.debug({ tenantId, messageId: m.id, kind, status: outcome.status, error: outcome.error, ms: Math.round(ms) }, 'media settled');
    return {
      media: res.media ?? m.media,
      row: { id: row.id, kind, status: String(outcome.status), storageKey: (outcome.storageKey as string | undefined) ?? null, mime: (outcome.mime as string | undefined) ?? null, size: (outcome.size as number | undefined) ?? null },
    };
  }

  /** Polls a row another process works on until it settles, at most the turn's wait; null: it did not. */
  private async outcomeOf(row: MediaRow): Promise<Settled | null> {
    const until = Date.now() + Math.max(1_000, this.opts.waitMs);
    while (Date.now() < until && !this.stopping.signal.aborted) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      const [s] = await this.db.query<{ status: string; storage_key: string | null; mime: string | null; size: string | null; media: Record<string, unknown> | null }>(MEDIA_STATE, [row.id]);
      if (!s) return null;
      if (s.status !== 'pending') {
        return { media: s.media, row: { id: row.id, kind: row.kind, status: s.status, storageKey: s.storage_key, mime: s.mime, size: s.size === null ? null : Number(s.size) } };
      }
    }
    return null;
  }

  /** Transcribes audio, reads a PDF's text; a failed transcription is the file's error, the file is kept. */
  private async understand(tenantId: string, kind: MediaKind, got: Downloaded, filename: string | null, outcome: Record<string, unknown>): Promise<void> {
    if (kind === 'audio') {
      const tenant = await this.tenants.get(tenantId);
      const target = this.transcriptionTarget(tenant.agent, tenant.apiKey);
      if (!target) return;
      try {
        const t = await this.withRetries(() => transcribe(got.file, got.mime, filename ?? `voice.${extensionOf(got.mime)}`, target, this.stopping.signal));
        Object.assign(outcome, { transcript: t.text, language: t.language, duration: t.duration });
      } catch (err) {
        if (!(err instanceof MediaError)) throw err;
        Object.assign(outcome, { status: 'failed', error: 'transcription_failed' });
      }
      return;
    }
    if (kind === 'document' && got.mime === 'application/pdf' && got.size <= PDF_MAX_BYTES) {
      try {
        const pdf = await pdfText(got.file);
        Object.assign(outcome, { pages: pdf.pages, excerpt: pdf.text || null });
      } catch (err) {
        // A PDF that will not parse is still a document: kept and named, without text.
        this.log.info({ err, tenantId }, 'PDF text could not be read');
      }
    }
  }

  /** Where a tenant's voice notes are transcribed, or null when transcription is off for it. */
  private transcriptionTarget(cfg: AgentConfig, apiKey: string | null): TranscriptionTarget | null {
    const model = cfg.transcriptionModel === undefined ? this.opts.transcriptionModel : cfg.transcriptionModel;
    if (!model) return null;
    // The same rule as the chat model: a tenant's own URL gets its own key only, through the egress policy.
    if (cfg.provider === 'openai' && cfg.baseUrl) return { baseUrl: cfg.baseUrl, apiKey, model, dispatcher: this.opts.tenantDispatcher };
    return { baseUrl: this.opts.openai.baseUrl, apiKey: (cfg.provider === 'openai' ? apiKey : null) ?? this.opts.openai.apiKey, model, dispatcher: this.opts.dispatcher };
  }

  private async withRetries<T>(fn: () => Promise<T>): Promise<T> {
    const waits = this.opts.backoffMs ?? DEFAULT_BACKOFF_MS;
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof MediaError) || !err.retryable || attempt >= waits.length || this.stopping.signal.aborted) throw err;
        await new Promise((r) => setTimeout(r, waits[attempt] * (0.75 + Math.random() / 2)));
      }
    }
  }

  /** The stored image resized for the model, cached for a few images. */
  private visionOf(mediaId: string, key: string): Promise<string | null> {
    let p = this.vision.get(mediaId);
    if (!p) {
      p = (async () => {
        const file = await this.store.open(key);
        if (!file) return null;
        const chunks: Buffer[] = [];
        for await (const c of file.body) chunks.push(c as Buffer);
        return visionDataUrl(Buffer.concat(chunks));
      })().catch((err) => {
        this.log.info({ err, mediaId }, 'image could not be prepared for the model');
        return null;
      });
      this.vision.set(mediaId, p);
      if (this.vision.size > VISION_CACHE) this.vision.delete(this.vision.keys().next().value!);
    }
    return p;
  }
}

function rowSummary(r: MediaRow): Settled['row'] {
  return { id: r.id, kind: r.kind, status: r.status, storageKey: r.storage_key, mime: r.mime, size: r.size === null ? null : Number(r.size) };
}

function extensionOf(mime: string): string {
  const m: Record<string, string> = { 'audio/ogg': 'ogg', 'audio/mpeg': 'mp3', 'audio/mp4': 'm4a', 'audio/wav': 'wav', 'audio/amr': 'amr', 'audio/aac': 'aac', 'audio/webm': 'webm', 'video/mp4': 'mp4' };
  return m[mime] ?? 'ogg';
}
