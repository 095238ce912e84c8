import type { Dispatcher } from 'undici';
import { interactivePayload, interactiveProblem, interactiveTextForm, type InteractiveChoice } from '../agent/interactive.ts';
import type { Db } from '../db/db.ts';
import { checkMedia, fetchMedia, MediaSourceError, uploadedMediaObject, type OutboundMediaType } from '../outbound/mediaSource.ts';
import { checkTemplateInput, templateError, templateMessage, type StoredTemplate, type TemplateInput } from '../outbound/templateMessage.ts';
import { TEMPLATE_FOR_SEND, type TemplateRow } from '../outbound/templates.sql.ts';
import { CloudApiError, type CloudApi, type MediaFile } from '../outbound/types.ts';
import { AppError, conflict, notFound, unavailable } from '../shared/errors.ts';
import { isRowId } from '../shared/ids.ts';
import { splitText } from '../outbound/split.ts';
import type { ChannelDirectory } from '../tenancy/channels.ts';
import type { OutboundRich } from './outbox.sql.ts';
import type { ConversationRunner } from './runner.ts';
import type { ManualSendResult } from './takeover.ts';
import { CONVERSATION_CHANNEL, MESSAGE_WAMID } from './richSend.sql.ts';

/** A file named by URL (fetched under the egress policy) or given as base64. */
export type MediaSource = { url: string; filename?: string } | { data: string; mimeType: string; filename?: string };

/** What the operator sends beside plain text (docs/api.md, "Sending by hand"). */
export type RichSend =
  | { kind: 'interactive'; text: string; choice: InteractiveChoice; replyTo: string | null }
  | { kind: 'media'; type: OutboundMediaType; source: MediaSource; caption: string | null; replyTo: string | null }
  | { kind: 'reaction'; emoji: string; messageId: string }
  | { kind: 'text'; text: string; replyTo: string };

/** A template send's request: the template, its parameters and header. */
export interface TemplateSend {
  name: string;
  language: string;
  parameters?: string[] | Record<string, string>;
  header?: {
    text?: string;
    type?: 'image' | 'document' | 'video' | 'location';
    url?: string;
    filename?: string;
    latitude?: number;
    longitude?: number;
    name?: string;
    address?: string;
  };
  /** The parameters of buttons whose URL takes one, by the button's index. */
  buttons?: { index: number; parameters: string[] }[];
}

/** Longest caption of an image or document. */
const CAPTION_MAX = 1024;

/**
 * The operator's messages other than plain text: buttons and lists, images
 * and documents (by URL or upload, through the Cloud API's media upload),
 * reactions, replies quoting a message, and templates (inside or outside the
 * 24-hour window). Each is checked before it is queued, then queued like any
 * operator message and sent in order by the conversation's holder.
 */
export class RichSender {
  constructor(
    private readonly db: Db,
    private readonly runner: ConversationRunner | null,
    private readonly channels: ChannelDirectory,
    private readonly cloudApi: CloudApi | null,
    /** Fetches media named by URL: must apply the tenant egress policy. */
    private readonly mediaDispatcher: Dispatcher | null,
  ) {}

  /** Sends a rich message by hand (inside the window only, like text). Pauses the bot as a text reply does. */
  async send(conversationId: string, tenantId: string | null, msg: RichSend): Promise<ManualSendResult> {
    const runner = this.ready(conversationId);
    let texts: string[];
    let rich: OutboundRich;
    if (msg.kind === 'interactive') {
      const problem = interactiveProblem(msg.text, msg.choice);
      if (problem) throw new AppError(400, 'interactive_limits', `WhatsApp would refuse this message: ${problem}`);
      const payload = interactivePayload(msg.text, msg.choice);
      texts = [interactiveTextForm(payload)];
      rich = { type: 'interactive', payload, contextWamid: await this.wamidOf(conversationId, tenantId, msg.replyTo) };
    } else if (msg.kind === 'reaction') {
      const wamid = await this.wamidOf(conversationId, tenantId, msg.messageId);
      texts = [msg.emoji];
      rich = { type: 'reaction', payload: { message_id: wamid, emoji: msg.emoji }, contextWamid: null };
    } else if (msg.kind === 'text') {
      // Only the first part quotes the message; a long text goes out in parts as usual.
      texts = splitText(msg.text);
      rich = { type: 'text', payload: null, contextWamid: await this.wamidOf(conversationId, tenantId, msg.replyTo) };
    } else {
      if (msg.caption !== null && [...msg.caption].length > CAPTION_MAX) throw new AppError(400, 'invalid_request', `caption: at most ${CAPTION_MAX} characters`);
      const contextWamid = await this.wamidOf(conversationId, tenantId, msg.replyTo);
      const payload = await this.upload(conversationId, tenantId, msg.type, msg.source, msg.caption);
      texts = [msg.caption ?? ''];
      rich = { type: msg.type, payload, contextWamid };
    }
    const r = await runner.enqueue({ conversationId, tenantId, author: 'operator', texts, rich: [rich], autoPause: true, requireWindow: true });
    if (!r.found) throw notFound('conversation');
    if (!r.windowOpen) {
      throw conflict('outside_customer_service_window', "the customer's last message is more than 24 hours old: WhatsApp allows only template messages now");
    }
    return result(r);
  }

  /**
   * Sends a template, inside or outside the window. Its parameters are
   * checked against the stored template first (unknown template 404, not
   * approved 409, wrong parameters or missing header media 400). It does not
   * pause the bot: the customer's answer to a template is the agent's to take.
   */
  async sendTemplate(conversationId: string, tenantId: string | null, req: TemplateSend): Promise<ManualSendResult & { windowOpen: boolean }> {
    const runner = this.ready(conversationId);
    const [row] = await this.db.query<{ conversationId: string; tenantId: string; channelId: string; windowOpen: boolean; template: TemplateRow | null }>(
      TEMPLATE_FOR_SEND,
      [conversationId, tenantId, req.name, req.language],
    );
    if (!row) throw notFound('conversation');
    if (!row.template) throw templateError(404, 'template_not_found', `no template ${req.name} in ${req.language} on this conversation's channel: sync the templates first (POST /api/templates/sync)`);
    const t: StoredTemplate = row.template;
    const input: TemplateInput = { parameters: req.parameters, headerText: req.header?.text, buttons: req.buttons };
    const h = req.header;
    if (h?.type === 'location') {
      if (h.latitude === undefined || h.longitude === undefined) throw templateError(400, 'template_header_location_required', 'header.latitude and header.longitude are required with header.type location');
      if (h.url !== undefined || h.filename !== undefined) throw templateError(400, 'template_parameters_invalid', 'a location header takes no url or filename');
      input.headerLocation = { latitude: h.latitude, longitude: h.longitude, name: h.name, address: h.address };
    } else if (h && (h.latitude !== undefined || h.longitude !== undefined || h.name !== undefined || h.address !== undefined)) {
      throw templateError(400, 'template_parameters_invalid', 'latitude, longitude, name and address belong to header.type location');
    }
    const mediaType = h?.type === 'location' ? undefined : h?.type;
    // Checked before any upload: a wrong request costs no media upload.
    const probe = mediaType ? { ...input, headerMedia: { type: mediaType, object: {} } } : input;
    if (mediaType && !h?.url) throw templateError(400, 'template_header_media_required', 'header.url is required with header.type');
    const shape = checkTemplateInput(t, probe);
    if (mediaType && h?.url) {
      const object = await this.upload(conversationId, tenantId, mediaType === 'video' ? 'document' : mediaType, { url: h.url, filename: h.filename }, null);
      input.headerMedia = { type: mediaType, object };
    }
    const { content, text } = templateMessage(t, shape, input);
    const r = await runner.enqueue({
      conversationId, tenantId, author: 'operator', texts: [text], rich: [{ type: 'template', payload: content, contextWamid: null }], autoPause: false, requireWindow: false,
    });
    if (!r.found) throw notFound('conversation');
    return { ...result(r), windowOpen: row.windowOpen };
  }

  private ready(conversationId: string): ConversationRunner {
    if (!isRowId(conversationId)) throw notFound('conversation');
    if (!this.runner) throw unavailable('this process does not send messages');
    return this.runner;
  }

  /** The wamid of one of the conversation's messages (for a reply or a reaction); null for no message. */
  private async wamidOf(conversationId: string, tenantId: string | null, messageId: string | null): Promise<string | null> {
    if (messageId === null) return null;
    const notThere = () => new AppError(400, 'message_not_found', `message ${messageId} is not a sent or received message of this conversation`);
    if (!isRowId(messageId)) throw notThere();
    const [m] = await this.db.query<{ wamid: string | null }>(MESSAGE_WAMID, [conversationId, tenantId, messageId]);
    if (!m?.wamid) throw notThere();
    return m.wamid;
  }

  /** Fetches (by URL, under the egress policy) or decodes a file and uploads it to the conversation's channel. */
  private async upload(conversationId: string, tenantId: string | null, type: OutboundMediaType, source: MediaSource, caption: string | null): Promise<Record<string, unknown>> {
    const [conv] = await this.db.query<{ channelId: string }>(CONVERSATION_CHANNEL, [conversationId, tenantId]);
    if (!conv) throw notFound('conversation');
    const channel = await this.channels.get(conv.channelId);
    if (!channel || !this.cloudApi) throw unavailable('this process does not send messages');
    let file: MediaFile;
    if ('url' in source) {
      if (!this.mediaDispatcher) throw unavailable('this process does not fetch media');
      file = await fetchMedia(this.mediaDispatcher, source.url, type, { filename: source.filename });
    } else {
      const bytes = Buffer.from(source.data, 'base64');
      file = { bytes, mimeType: source.mimeType.toLowerCase(), filename: source.filename ?? (type === 'image' ? 'image' : 'document') };
      checkMedia(type, file);
    }
    try {
      return await uploadedMediaObject(this.cloudApi, channel, type, file, caption);
    } catch (err) {
      if (err instanceof MediaSourceError) throw err;
      if (err instanceof CloudApiError) throw new AppError(502, 'media_upload_failed', `the Cloud API refused the upload: ${err.code} ${err.title}`);
      throw err;
    }
  }
}

function result(r: Awaited<ReturnType<ConversationRunner['enqueue']>>): ManualSendResult {
  return {
    messages: r.messages.map((m) => ({ id: m.id, body: m.body, createdAt: new Date(m.createdAt).toISOString() })),
    paused: r.conv?.paused ?? false,
    pausedUntil: r.conv?.pausedUntil ? new Date(r.conv.pausedUntil).toISOString() : null,
  };
}
