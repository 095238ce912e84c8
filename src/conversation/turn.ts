import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { interactivePayload, interactiveProblem, interactiveTextForm, numberedText } from '../agent/interactive.ts';
import type { MediaReply } from '../agent/mediaReply.ts';
import { fetchMedia, uploadedMediaObject } from '../outbound/mediaSource.ts';
import { checkTemplateInput, fixedTemplateInput, templateMessage } from '../outbound/templateMessage.ts';
import { TEMPLATE_BY_NAME, type TemplateRow } from '../outbound/templates.sql.ts';
import { callAgent } from '../agent/call.ts';
import type { AgentRegistry } from '../agent/registry.ts';
import { toAgentMessage } from '../agent/textForm.ts';
import type { ToolCaller } from '../agent/tools/toolCaller.ts';
import type { AgentMessage, AgentOutput, ToolSession } from '../agent/types.ts';
import type { Db } from '../db/db.ts';
import type { HistoryMessage } from '../ingest/ingest.ts';
import { isMediaKind } from '../media/kinds.ts';
import type { MediaLane } from '../media/lane.ts';
import type { CloudApi } from '../outbound/types.ts';
import { splitText } from '../outbound/split.ts';
import type { Bus } from '../shared/bus.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import type { LeaseTerms } from './leaseBook.ts';
import type { CommittedTurn, OutgoingMessage, PendingMessage, TurnOutcome, TurnTiming } from './outcomes.ts';
import type { ConversationView } from './state.ts';
import type { TenantDirectory, TenantSettings } from '../tenancy/tenantSettings.ts';
import { Batcher } from '../shared/batcher.ts';
import { REPLY_COMMITS, type CommitInput, type CommitRow, type ReplyKind } from './turn.sql.ts';

const DAY_MS = 24 * 60 * 60 * 1000;

/** The customer's 24-hour window closed before this message of theirs could be answered. */
function windowClosed(m: PendingMessage): boolean {
  return m.sentAt !== null && Date.now() - m.sentAt > DAY_MS;
}

/** Longest caption of an image or document. */
const MEDIA_CAPTION_MAX = 1024;

/** Reply-commit statements running at once; turns finishing meanwhile share the next one. */
const COMMIT_STATEMENTS_IN_FLIGHT = 3;

/** What a turn commits: the kind of reply, its texts, and whether it pauses the bot (handoff). */
interface Reply {
  kind: ReplyKind;
  texts: string[];
  pause: boolean;
  /** The first part as another type than text (interactive, media), or quoting a message. */
  rich?: CommitInput['rich'];
  /** An image or document to fetch and upload before the commit. */
  media?: MediaReply | null;
}

/** What one agent call came to, and how long it took. */
type AgentResult = { kind: 'answered'; out: AgentOutput; ms: number } | { kind: 'failed'; ms: number } | { kind: 'aborted'; ms: number };

/** Tuning of the turns (tests shorten the waits). */
export interface TurnOptions {
  /** Pause between agent attempts. */
  agentBackoffMs?: number;
  /** Tenant tools (docs/tools.md): offered to the openai and demo agents; absent, none. */
  tools?: ToolCaller;
  /**
   * Fetches the media an agent answers with by URL; must apply the tenant
   * egress policy. Without it such a reply goes out as text with the URL.
   */
  mediaDispatcher?: Dispatcher;
  /** The media lane: a turn with a media message waits for it (docs/media.md); text-only turns never touch it. */
  media?: Pick<MediaLane, 'turnMessages' | 'withSettled'> | null;
}

/**
 * A turn: the agent's answer to the pending customer messages of one
 * conversation, committed with its quota unit in one statement. It reads the
 * conversation's state and returns what happened; the runner, which holds
 * the turn slot, applies it and decides what comes next.
 */
export class TurnRunner {
  private readonly commits = new Batcher<CommitInput, CommitRow>((items) => this.commitMany(items), COMMIT_STATEMENTS_IN_FLIGHT, 200);

  constructor(
    private readonly db: Db,
    private readonly bus: Bus,
    private readonly log: Logger,
    private readonly lease: LeaseTerms,
    private readonly tenants: TenantDirectory,
    private readonly channels: ChannelDirectory,
    private readonly agents: AgentRegistry,
    private readonly cloudApi: CloudApi,
    private readonly opts: TurnOptions = {},
  ) {}

  /**
   * One attempt at a turn over every pending message. `signal` aborts the
   * agent call: the runner aborts it for a coalescing restart, a pause or a
   * lost lease.
   */
  async attempt(view: ConversationView, tenant: TenantSettings, startedAt: number, signal: AbortSignal): Promise<TurnOutcome> {
    const batch = view.pending.slice();
    const turnId = randomUUID();
    let reply = this.decide(view, tenant, batch);
    let agentMs = 0;
    // A handoff keyword past the window (with a template set, the window does not stop the turn early): the pause, but no free-form text.
    if (reply?.kind === 'handoff' && windowClosed(batch[batch.length - 1])) reply = { kind: 'handoff', texts: [], pause: true };
    if (!reply) {
      this.markRead(view, tenant, batch[batch.length - 1]);
      const result = await this.askAgent(view, tenant, batch, turnId, signal);
      agentMs = result.ms;
      if (result.kind === 'aborted') {
        if (view.lease.lost) return { kind: 'lost' };
        if (view.restartRequested && !view.paused) return { kind: 'restart' };
      }
      reply = classify(result, view.paused, tenant, batch, (msg, detail) => this.log.info({ conversationId: view.id, tenantId: view.tenantId, ...detail }, msg));
      // Past the window only a template may go out: the tenant's, in place of an answer; nothing in place of anything else.
      // Decided before the agent's media is fetched: a file that cannot go out is neither fetched nor uploaded.
      // A handoff (or a failure that hands off) is kept: the conversation waits for a person; its text is not, the Cloud API would refuse it.
      if (windowClosed(batch[batch.length - 1]) && reply.kind !== 'paused') {
        const answered = reply.kind === 'answer' && (reply.texts.length > 0 || reply.media);
        if (answered) reply = await this.windowTemplate(view, tenant, reply);
        else if (reply.kind === 'handoff' || (reply.kind === 'fallback' && reply.pause)) reply = { kind: reply.kind, texts: [], pause: true };
        else reply = { kind: 'window_closed', texts: [], pause: false };
      } else if (reply.media) reply = await this.withMedia(view, reply, reply.media, signal);
    }
    return this.commit(view, tenant, batch, turnId, reply, { startedAt, agentMs });
  }

  /** The reply decided without the agent (paused, window closed, over quota, handoff keyword), or null to ask it. */
  private decide(view: ConversationView, tenant: TenantSettings, batch: PendingMessage[]): Reply | null {
    const cfg = tenant.agent;
    const last = batch[batch.length - 1];
    if (view.paused) return { kind: 'paused', texts: [], pause: false };
    // Disabled by the operator: no agent call; the commit settles tenant_disabled (it reads the tenant's row itself).
    if (tenant.disabled) return { kind: 'answer', texts: [], pause: false };
    // The Cloud API would refuse a free-form reply (131047): no agent call, unless the tenant sends a template then.
    if (windowClosed(last) && !cfg.windowClosedTemplate) return { kind: 'window_closed', texts: [], pause: false };
    // Over the monthly limit: no agent call; the commit settles over_quota.
    if (this.tenants.limitReached(view.tenantId, tenant.monthlyMessageLimit)) return { kind: 'answer', texts: [], pause: false };
    if (matchesHandoff(batch, cfg.handoffKeywords)) return { kind: 'handoff', texts: cfg.handoffMessage ? [cfg.handoffMessage] : [], pause: true };
    return null;
  }

  /** Calls the agent (per-attempt timeouts, retries) over the history and the batch. */
  private async askAgent(view: ConversationView, tenant: TenantSettings, batch: PendingMessage[], turnId: string, signal: AbortSignal): Promise<AgentResult> {
    const cfg = tenant.agent;
    const started = performance.now();
    const media = this.opts.media ?? null;
    try {
      const tools = this.toolSession(view, tenant, batch, turnId);
      const turn = media && batch.some((m) => isMediaKind(m.type)) ? await media.turnMessages(view.tenantId, view.channelId, batch, cfg, signal) : toAgentMessages(batch);
      const past = view.history.slice(-cfg.historyLength);
      const out = await callAgent(this.agents.agentFor(cfg.provider), {
        tenantId: view.tenantId,
        conversationId: view.id,
        config: cfg,
        apiKey: tenant.apiKey,
        secret: tenant.secret,
        contact: view.contact,
        history: toAgentMessages(media ? past.map((h) => media.withSettled(h)) : past),
        turn,
        signal,
        tools,
      }, { backoffMs: this.opts.agentBackoffMs });
      return { kind: 'answered', out, ms: performance.now() - started };
    } catch (err) {
      if (signal.aborted) return { kind: 'aborted', ms: performance.now() - started };
      this.log.warn({ err, conversationId: view.id, tenantId: view.tenantId, requestIds: requestIdsOf(batch) }, 'agent failed');
      return { kind: 'failed', ms: performance.now() - started };
    }
  }

  /**
   * The tenant's tools for this turn, or null (no tools, or an agent that
   * takes none). `openedBy`, the oldest message the turn answers, stays the
   * same when the turn restarts or another process takes it over: calls
   * recorded under it are not made again (docs/tools.md). The tools come
   * with the tenant's cached settings: no statement of their own.
   */
  private toolSession(view: ConversationView, tenant: TenantSettings, batch: PendingMessage[], turnId: string): ToolSession | null {
    const caller = this.opts.tools;
    if (!caller || tenant.agent.provider === 'http') return null;
    return caller.session({ tenantId: view.tenantId, conversationId: view.id, openedBy: batch[0].id, turnId, contact: view.contact }, tenant.tools);
  }

  /**
   * Fetches an agent's media by URL (under the egress policy) and uploads it,
   * making it the reply's first part with the text as its caption. A file
   * that cannot be fetched or uploaded is never a lost reply: the text goes
   * out with the URL.
   */
  private async withMedia(view: ConversationView, reply: Reply, media: MediaReply, signal: AbortSignal): Promise<Reply> {
    const text = reply.texts.join('\n');
    const context = reply.rich?.contextWamid ?? null;
    try {
      const channel = await this.channels.get(view.channelId);
      if (!channel || !this.opts.mediaDispatcher) throw new Error(channel ? 'no media fetcher' : 'channel not found');
      const file = await fetchMedia(this.opts.mediaDispatcher, media.url, media.type, { filename: media.filename, signal });
      const caption = text.length > 0 && [...text].length <= MEDIA_CAPTION_MAX ? text : null;
      const payload = await uploadedMediaObject(this.cloudApi, channel, media.type, file, caption);
      // A text too long for a caption follows the file as text parts of its own.
      const texts = caption === null && text ? ['', text] : [caption ?? ''];
      return { ...reply, texts, media: null, rich: { type: media.type, payload, contextWamid: context } };
    } catch (err) {
      this.log.warn({ err, conversationId: view.id, tenantId: view.tenantId }, 'the agent\'s media could not be sent; its text goes out with the URL');
      return { ...reply, texts: [[text, media.url].filter(Boolean).join('\n')], media: null, rich: context ? { type: 'text', payload: null, contextWamid: context } : null };
    }
  }

  /**
   * The tenant's template for closed windows, checked against the stored
   * template, as the reply; window_closed when it is not there or not sendable.
   */
  private async windowTemplate(view: ConversationView, tenant: TenantSettings, reply: Reply): Promise<Reply> {
    const want = tenant.agent.windowClosedTemplate!;
    try {
      const [t] = await this.db.query<TemplateRow>(TEMPLATE_BY_NAME, [view.channelId, want.name, want.language]);
      if (!t) throw new Error(`no template ${want.name} (${want.language}) on the channel: sync the templates`);
      const input = fixedTemplateInput(want);
      const shape = checkTemplateInput(t, input);
      const { content, text } = templateMessage(t, shape, input);
      return { kind: 'answer', texts: [text], pause: reply.pause, rich: { type: 'template', payload: content, contextWamid: null } };
    } catch (err) {
      this.log.warn({ err, conversationId: view.id, tenantId: view.tenantId, template: want.name }, 'the window closed and the tenant\'s template cannot be sent');
      return { kind: 'window_closed', texts: [], pause: false };
    }
  }

  /** Commits the reply (statement 2) and reports what it settled. */
  private async commit(view: ConversationView, tenant: TenantSettings, batch: PendingMessage[], turnId: string, reply: Reply, timing: { startedAt: number; agentMs: number }): Promise<TurnOutcome> {
    const last = batch[batch.length - 1];
    const tenantId = view.tenantId;
    // A rich first part is its text form, kept whole (its limits were checked); the rest is split as text.
    const parts = reply.rich && reply.rich.type !== 'text' ? [reply.texts[0], ...reply.texts.slice(1).flatMap((t) => splitText(t))] : reply.texts.flatMap((t) => splitText(t));
    // Release the lease only when nothing else waits in memory; -1 always keeps it.
    const ids = new Set(batch.map((m) => m.id));
    const seq = view.outbox.length === 0 && view.pending.every((m) => ids.has(m.id)) ? view.lease.knownSeq : -1;
    const { answers: keep, perSeconds: span } = tenant.agent.answerBudget;
    const row = await this.commits.submit({ conv: view.id, seq, ids: batch.map((m) => m.id), answered: last.id, turn: turnId, parts, rich: reply.rich ?? null, kind: reply.kind, pause: reply.pause, keep, span });
    if (row.usageCount !== null) this.tenants.noteUsage(tenantId, row.usageCount);
    // Another process took the conversation (our lease expired): it will answer.
    if (!row.held) return { kind: 'lost' };
    const settled = new Map(row.settled.map((s) => [s.id, s.disposition]));
    const counts = new Map<string, number>();
    for (const d of settled.values()) counts.set(d, (counts.get(d) ?? 0) + 1);
    for (const [disposition, count] of counts) this.bus.emit('message.disposition', { tenantId, conversationId: view.id, disposition, count });
    const history = batch.map((m) => historyOf(m, settled.get(m.id) ?? null));
    for (const r of row.replies) history.push({ id: r.id, direction: 'outbound', author: 'agent', type: r.type, body: r.body, media: null, payload: r.payload, disposition: null, convSeq: 0, createdAt: r.createdAt });
    const pausedByTurn = row.convState !== null && row.convState.paused && !row.wasPaused;
    if (pausedByTurn) this.bus.emit('conversation.paused', { tenantId, conversationId: view.id, paused: true, pausedUntil: row.convState?.pausedUntil ?? null, by: 'agent' });
    const disposition = settled.get(last.id) ?? 'answered';
    if (this.log.isLevelEnabled('debug')) {
      this.log.debug({ conversationId: view.id, tenantId, turnId, disposition, replies: row.replies.length, requestIds: requestIdsOf(batch) }, 'turn committed');
    }
    const turn: TurnTiming = {
      tenantId,
      disposition,
      arrivedAt: Math.min(...batch.map((m) => m.arrivedAt)),
      startedAt: timing.startedAt,
      agentMs: timing.agentMs,
      partsLeft: row.replies.length,
      sendMs: 0,
    };
    if (row.replies.length === 0) {
      const total = performance.now() - turn.arrivedAt;
      this.bus.emit('turn.done', { tenantId, conversationId: view.id, disposition, queueMs: turn.startedAt - turn.arrivedAt, agentMs: turn.agentMs, sendMs: 0, totalMs: total });
    }
    return {
      kind: 'committed',
      covered: batch.map((m) => m.id),
      history,
      replies: row.replies.map((r) => ({ id: r.id, body: r.body, type: r.type, payload: r.payload, contextWamid: r.contextWamid, turnId, turn })),
      paused: pausedByTurn || row.wasPaused === true,
      inboundSeq: row.inboundSeq,
      releasedAt: row.convState?.released ? row.inboundSeq : null,
      answeredAt: row.convState?.answeredAt ?? [...view.answeredAt],
    };
  }

  /** One statement for every turn waiting to commit. */
  private async commitMany(items: CommitInput[]): Promise<PromiseSettledResult<CommitRow>[]> {
    const rows = await this.db.query<CommitRow>(REPLY_COMMITS, [JSON.stringify(items.map((it, ord) => ({ ...it, ord }))), this.lease.owner, this.lease.seconds]);
    const byConv = new Map(rows.map((r) => [r.conv, r]));
    return items.map((it) => {
      const value = byConv.get(it.conv);
      return value ? { status: 'fulfilled', value } : { status: 'rejected', reason: new Error(`no reply-commit row for conversation ${it.conv}`) };
    });
  }

  /** Marks the customer's last message read with a typing indicator; never delays the turn. */
  private markRead(view: ConversationView, tenant: TenantSettings, last: PendingMessage): void {
    if (!tenant.agent.markReadWithTyping || !last.wamid) return;
    const wamid = last.wamid;
    this.channels
      .get(view.channelId)
      .then((ch) => (ch ? this.cloudApi.markRead(ch, wamid, true) : undefined))
      .catch((err) => this.log.debug({ err, conversationId: view.id, requestId: last.requestId }, 'mark as read failed'));
  }
}

/** The request ids of the webhooks that brought a turn's messages (X-Request-Id), for its log lines. */
function requestIdsOf(batch: readonly PendingMessage[]): string[] {
  const ids = new Set<string>();
  for (const m of batch) if (m.requestId) ids.add(m.requestId);
  return [...ids];
}

/**
 * The reply to commit after an agent call: a pause (even one that stopped the
 * call) wins. Buttons or a list that break Meta's limits go out as text with
 * the options numbered (`note` logs why).
 */
function classify(result: AgentResult, paused: boolean, tenant: TenantSettings, batch: readonly PendingMessage[], note: (msg: string, detail: object) => void): Reply {
  const cfg = tenant.agent;
  if (paused || result.kind === 'aborted') return { kind: 'paused', texts: [], pause: false };
  if (result.kind === 'failed') return { kind: 'fallback', texts: cfg.fallbackMessage ? [cfg.fallbackMessage] : [], pause: cfg.handoffOnAgentFailure };
  const { out } = result;
  const reply = out.reply?.trim() ?? '';
  const quoted = out.quote ? (batch[batch.length - 1]?.wamid ?? null) : null;
  if (out.media && !out.handoff) {
    return { kind: 'answer', texts: reply ? [reply] : [], pause: false, media: out.media, rich: quoted ? { type: 'text', payload: null, contextWamid: quoted } : null };
  }
  if (reply && out.choice) {
    const problem = interactiveProblem(reply, out.choice);
    if (problem === null) {
      const payload = interactivePayload(reply, out.choice);
      return { kind: 'answer', texts: [interactiveTextForm(payload)], pause: out.handoff, rich: { type: 'interactive', payload, contextWamid: quoted } };
    }
    note('interactive reply breaks a WhatsApp limit; sent as numbered text', { problem });
    return { kind: 'answer', texts: [numberedText(reply, out.choice)], pause: out.handoff, rich: quoted ? { type: 'text', payload: null, contextWamid: quoted } : null };
  }
  if (reply) return { kind: 'answer', texts: [reply], pause: out.handoff, rich: quoted ? { type: 'text', payload: null, contextWamid: quoted } : null };
  if (out.handoff) return { kind: 'handoff', texts: cfg.handoffMessage ? [cfg.handoffMessage] : [], pause: true };
  return { kind: 'none', texts: [], pause: false };
}

/** Whether a message of the batch holds one of the handoff keywords as a whole word. */
export function matchesHandoff(batch: readonly PendingMessage[], keywords: string[]): boolean {
  if (keywords.length === 0) return false;
  return batch.some((m) => {
    const text = (m.body ?? '').toLocaleLowerCase();
    return keywords.some((k) => {
      const kw = k.toLocaleLowerCase().trim();
      if (!kw) return false;
      const i = text.indexOf(kw);
      if (i < 0) return false;
      const before = i === 0 ? '' : text[i - 1];
      const after = text[i + kw.length] ?? '';
      return !/[\p{L}\p{N}]/u.test(before) && !/[\p{L}\p{N}]/u.test(after);
    });
  });
}

function toAgentMessages(rows: readonly (HistoryMessage | PendingMessage)[]): AgentMessage[] {
  const out: AgentMessage[] = [];
  for (const r of rows) {
    const m = toAgentMessage(
      'direction' in r ? r : { direction: 'inbound', author: 'customer', type: r.type, body: r.body, media: r.media, payload: r.payload },
    );
    if (m) out.push(m);
  }
  return out;
}

function historyOf(m: PendingMessage, disposition: string | null): HistoryMessage {
  return { id: m.id, direction: 'inbound', author: 'customer', type: m.type, body: m.body, media: m.media, payload: m.payload, disposition, convSeq: m.convSeq, createdAt: new Date().toISOString() };
}
