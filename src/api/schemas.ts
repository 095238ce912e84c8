import { z } from 'zod';
import { channelCreateInput, tenantCreateInput, tenantPatchInput } from '../tenancy/provision.ts';
import { toolCreateInput, toolPatchInput } from '../tenancy/tools.ts';

/**
 * The operator API's shapes (docs/api.md), as zod schemas: inputs are parsed with
 * them, and `/api/openapi.json` describes inputs and outputs from them. Ids
 * are strings, times ISO 8601, lists `{items, nextCursor}`.
 */

export const DISPOSITIONS = [
  'answered',
  'coalesced',
  'paused',
  'over_quota',
  'no_answer_needed',
  'window_closed',
  'duplicate',
  'agent_failed',
  'send_failed',
  'unroutable',
  'tenant_disabled',
] as const;

/**
 * Query parameters that arrive as strings but mean numbers or booleans: the
 * OpenAPI document gives them this JSON Schema (`integer` with its bounds,
 * `boolean`) rather than the string their parse starts from.
 */
export const queryParamSchemas = new WeakMap<z.ZodType, Record<string, unknown>>();

export const idString = z.string().regex(/^\d{1,18}$/, 'must be a numeric id');

export const errorBody = z.object({
  error: z.object({
    code: z.string().describe('stable snake_case code, e.g. not_found, invalid_request, outside_customer_service_window'),
    message: z.string(),
  }),
});

export const toolCallShape = z.object({
  id: z.string(),
  name: z.string().describe('the tool called'),
  arguments: z.unknown().describe('the arguments the model gave'),
  status: z.enum(['running', 'ok', 'error', 'invalid_arguments', 'timeout']),
  durationMs: z.number().int().nullable(),
  excerpt: z.string().nullable().describe('the first 2 KiB of what the model was given back'),
  createdAt: z.string(),
});

export const mediaFileShape = z.object({
  id: z.string().nullable().describe('GET /api/media/{id} serves the file'),
  status: z.enum(['pending', 'ready', 'failed']),
  error: z
    .enum(['too_large', 'unsupported', 'download_failed', 'type_mismatch', 'hash_mismatch', 'transcription_failed', 'timed_out'])
    .nullable()
    .describe('why the file, or what it says, is not available; timed_out: a turn stopped waiting for it and answered the text form'),
  mimeType: z.string().nullable().describe('the type the bytes really are'),
  size: z.number().int().nullable().describe('bytes'),
  transcript: z.string().nullable().describe('voice notes and audio, when the tenant transcribes'),
  language: z.string().nullable(),
  excerpt: z.string().nullable().describe("a PDF's first characters"),
  pages: z.number().int().nullable(),
  durationSeconds: z.number().nullable(),
});

export const messageShape = z.object({
  id: z.string(),
  conversationId: z.string(),
  direction: z.enum(['inbound', 'outbound']),
  author: z.enum(['customer', 'agent', 'operator']),
  wamid: z.string().nullable(),
  type: z.string().describe('text, image, document, location, reaction, … as WhatsApp names it'),
  text: z.string().nullable().describe('the text, caption, button title … of the message; plain text, never HTML'),
  media: z
    .object({
      mimeType: z.string().nullable(),
      caption: z.string().nullable(),
      filename: z.string().nullable(),
      file: mediaFileShape.nullable().describe('the file as wagate kept and understood it; null until the media lane has looked at it'),
    })
    .nullable()
    .describe('media messages only'),
  status: z.string().describe('inbound: received; outbound: queued, sent, delivered, read, failed'),
  pricingCategory: z.string().nullable().describe('outbound: the pricing category the status webhooks reported (service, utility, marketing, authentication …)'),
  disposition: z.enum(DISPOSITIONS).nullable().describe('inbound only: why it was or was not answered; null while its turn is pending'),
  turnId: z.string().nullable(),
  error: z.object({ code: z.number().nullable(), title: z.string().nullable() }).nullable(),
  toolCalls: z.array(toolCallShape).describe("agent replies: the tool calls of the turn that led to it, oldest first, on the reply's first message only (docs/tools.md); else empty"),
  createdAt: z.string(),
});
export type MessageShape = z.infer<typeof messageShape>;

export const conversationShape = z.object({
  id: z.string(),
  tenantId: z.string(),
  channelId: z.string(),
  contact: z.object({
    id: z.string().describe('the contact: DELETE /api/contacts/{contactId} erases it'),
    waId: z.string().nullable(),
    userId: z.string().nullable(),
    name: z.string().nullable(),
  }),
  paused: z.boolean(),
  pausedUntil: z.string().nullable().describe('when the resume timer ends the pause; null: paused until resumed'),
  pausedBy: z.string().nullable().describe('operator, agent, business_app or timer'),
  lastMessage: messageShape.nullable(),
  lastMessageAt: z.string(),
  unread: z.number().int().describe('customer messages since an operator last read the conversation'),
  windowClosesAt: z
    .string()
    .nullable()
    .describe("when the 24-hour customer service window closes (the customer's last message + 24 h); past it only templates go out; null: the customer never wrote"),
});
export type ConversationShape = z.infer<typeof conversationShape>;

/** `{items, nextCursor}` of a schema. */
export const listOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item), nextCursor: z.string().nullable() });

export const usageShape = z.object({
  month: z.string().describe('YYYY-MM, UTC'),
  count: z.number().int().describe('agent answers this month'),
  limit: z.number().int().nullable().describe('monthlyMessageLimit; null: unlimited'),
});

export const sessionShape = z.object({
  kind: z.enum(['admin', 'tenant']),
  tenantId: z.string().nullable(),
  tenantName: z.string().nullable(),
});

export const manualSendShape = z.object({
  messages: z.array(messageShape).describe('the queued message, or its parts when the text was longer than 4,096 characters'),
  paused: z.boolean(),
  pausedUntil: z.string().nullable(),
});

const boolString = z.enum(['true', 'false']).transform((v) => v === 'true');
queryParamSchemas.set(boolString, { type: 'boolean' });
/** `?limit=`: a whole number from 1 to `max`, `dflt` when left out. */
export const pageLimit = (max: number, dflt: number) => {
  const schema = z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= 1 && n <= max, `must be between 1 and ${max}`)
    .optional()
    .transform((n) => n ?? dflt);
  queryParamSchemas.set(schema, { type: 'integer', minimum: 1, maximum: max, default: dflt });
  return schema;
};

/** `?tenantId=`: the admin key picks a tenant; a tenant key may only name its own. */
export const tenantIdQuery = idString.optional().describe('admin key: one tenant (default: every tenant); a tenant key: its own only');

export const conversationListQuery = z.strictObject({
  cursor: z.string().max(8192).optional(),
  limit: pageLimit(200, 50),
  paused: boolString.optional(),
  unanswered: boolString.optional().describe("true: the customer's latest message has no answer after it"),
  disposition: z
    .enum([...DISPOSITIONS, 'pending'])
    .optional()
    .describe("the disposition of the customer's latest message (pending: not settled yet)"),
  tenantId: tenantIdQuery,
});

export const messageListQuery = z.strictObject({
  cursor: z.string().max(200).optional(),
  limit: pageLimit(500, 100),
  order: z.enum(['asc', 'desc']).optional().describe('asc (default): oldest first; desc: newest first'),
});

export const conversationParams = z.strictObject({ id: idString });

export const pauseBody = z.strictObject({
  minutes: z.number().int().min(1).max(525_600).nullable().optional().describe("resume timer for this pause; default: the tenant's resumeAfterMinutes"),
});

const listRow = z.strictObject({
  id: z.string().min(1).max(200),
  title: z.string().min(1).max(24),
  description: z.string().max(72).optional(),
});

export const manualSendBody = z
  .strictObject({
    text: z
      .string()
      .max(16_384)
      .refine((s) => s.trim().length > 0, 'must not be empty')
      .optional()
      .describe('the text; with buttons or list the body (at most 1,024 characters); with media the caption (at most 1,024)'),
    buttons: z
      .array(z.strictObject({ id: z.string().min(1).max(256), title: z.string().min(1).max(20) }))
      .min(1)
      .max(3)
      .optional()
      .describe('up to 3 reply buttons: the tapped one comes back as an interactive message with its id'),
    list: z
      .strictObject({
        button: z.string().min(1).max(20).describe('the label of the button that opens the list'),
        sections: z.array(z.strictObject({ title: z.string().min(1).max(24).optional(), rows: z.array(listRow).min(1).max(10) })).min(1).max(10),
      })
      .optional()
      .describe('a list of at most 10 rows in all'),
    media: z
      .strictObject({
        type: z.enum(['image', 'document']),
        url: z.string().max(2048).optional().describe('fetched by wagate under the tenant egress policy, then uploaded to WhatsApp'),
        data: z.string().max(1_000_000).optional().describe('the file, base64 (the request body is at most 1 MiB: larger files by url)'),
        mimeType: z.string().max(100).optional().describe('with data: image/jpeg or image/png for images'),
        filename: z.string().min(1).max(240).optional(),
      })
      .optional()
      .describe('an image or a document, by url or as base64 data'),
    reaction: z
      .strictObject({ messageId: idString.describe('a message of this conversation'), emoji: z.string().min(1).max(16) })
      .optional()
      .describe('react to a message with an emoji'),
    replyTo: idString.optional().describe('quote this message of the conversation (context.message_id)'),
  })
  .superRefine((b, ctx) => {
    const fail = (message: string, path: string) => ctx.addIssue({ code: 'custom', message, path: [path] });
    if (b.reaction) {
      for (const k of ['text', 'buttons', 'list', 'media', 'replyTo'] as const) if (b[k] !== undefined) fail('not allowed with reaction', k);
      return;
    }
    if (b.buttons && b.list) return fail('give buttons or list, not both', 'list');
    if (b.media) {
      if (b.buttons || b.list) return fail('not allowed with media', b.buttons ? 'buttons' : 'list');
      if ((b.media.url === undefined) === (b.media.data === undefined)) return fail('give url or data', 'media');
      if (b.media.data !== undefined && !b.media.mimeType) return fail('mimeType is required with data', 'media');
      if (b.media.data !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(b.media.data)) return fail('data must be base64', 'media');
      if (b.text !== undefined && [...b.text].length > 1024) return fail('a caption has at most 1024 characters', 'text');
      return;
    }
    if (b.text === undefined) return fail('required', 'text');
    if ((b.buttons || b.list) && [...b.text].length > 1024) fail('with buttons or a list, at most 1024 characters', 'text');
  });

export const signInBody = z.strictObject({ key: z.string().min(1).max(200) });

export const eventsQuery = z.strictObject({
  conversationId: idString.optional().describe('only the events of this conversation'),
  tenantId: tenantIdQuery,
});

export const tenantScopeQuery = z.strictObject({ tenantId: tenantIdQuery });

export const agentShape = z.object({
  provider: z.enum(['openai', 'http', 'demo']),
  model: z.string().nullable(),
  systemPrompt: z.string(),
  baseUrl: z.string().nullable(),
  url: z.string().nullable(),
  historyLength: z.number().int(),
  timeoutMs: z.number().int(),
  coalesce: z.enum(['restart', 'queue']),
  debounceMs: z.number().int(),
  maxDebounceMs: z.number().int(),
  handoffKeywords: z.array(z.string()),
  handoffMessage: z.string().nullable(),
  quotaNotice: z.string().nullable(),
  fallbackMessage: z.string(),
  handoffOnAgentFailure: z.boolean(),
  markReadWithTyping: z.boolean(),
  autoPauseOnOperatorReply: z.boolean(),
  resumeAfterMinutes: z.number().int().nullable(),
  answerBudget: z
    .object({ answers: z.number().int(), perSeconds: z.number().int() })
    .describe('at most `answers` agent replies to one conversation in any `perSeconds`; what comes meanwhile joins the next turn'),
  maxToolRounds: z.number().int().describe('rounds of tenant tool calls the openai agent may make in one turn (0 to 8; docs/tools.md)'),
  windowClosedTemplate: z
    .object({
      name: z.string(),
      language: z.string(),
      parameters: z.union([z.array(z.string()), z.record(z.string(), z.string())]).optional(),
      header: z
        .union([
          z.object({ text: z.string() }),
          z.object({ type: z.enum(['image', 'document', 'video']), url: z.string(), filename: z.string().optional() }),
          z.object({ type: z.literal('location'), latitude: z.number(), longitude: z.number(), name: z.string().optional(), address: z.string().optional() }),
        ])
        .optional()
        .describe("a text header's parameter, a media header's file by https URL (WhatsApp fetches it), or a location header's place"),
      buttons: z.array(z.object({ index: z.number().int(), parameters: z.array(z.string()) })).optional().describe('the parameters of buttons whose URL takes one'),
    })
    .nullable()
    .describe('opt-in: the template sent when the agent has an answer but the 24-hour window closed; null: nothing is sent (window_closed)'),
  vision: z.boolean().describe("the model takes images: customers' images and stickers reach it as image content parts"),
  transcriptionModel: z
    .string()
    .nullable()
    .optional()
    .describe(
      "the /audio/transcriptions model for voice notes; absent: OPENAI_TRANSCRIPTION_MODEL (send \"\" to return to it); null: no transcription. On the operator's model key, one of limits.effectiveAllowedTranscriptionModels",
    ),
  hasApiKey: z.boolean().describe('apiKey is write-only: only whether one is set'),
  hasSecret: z.boolean().describe('secret is write-only: only whether one is set'),
});

export const limitsShape = z.object({
  allowedModels: z.array(z.string()).nullable().describe("the tenant's own list; null: the process's WAGATE_ALLOWED_MODELS"),
  allowedTranscriptionModels: z.array(z.string()).nullable().describe("the tenant's own list of transcription models; null: the process's WAGATE_ALLOWED_TRANSCRIPTION_MODELS"),
  maxHistoryLength: z.number().int().describe('ceiling of agent.historyLength'),
  maxSystemPromptChars: z.number().int().describe("ceiling of agent.systemPrompt's length"),
  effectiveAllowedModels: z.array(z.string()).describe("the models the tenant may choose on the operator's model key now (OPENAI_MODEL included)"),
  effectiveAllowedTranscriptionModels: z
    .array(z.string())
    .describe("the transcription models the tenant may choose on the operator's model key now (OPENAI_TRANSCRIPTION_MODEL included)"),
});

export const tenantShape = z.object({
  id: z.string(),
  name: z.string(),
  monthlyMessageLimit: z.number().int().nullable(),
  limits: limitsShape.describe('set by the admin key only'),
  retentionDays: z.number().int().nullable().describe('messages older than this many days are removed; null: kept forever'),
  disabled: z.boolean().describe('disabled by the operator: webhooks stored, nothing answered, its keys refused'),
  disabledAt: z.string().nullable(),
  agent: agentShape,
});

export const tenantSummaryShape = z.object({
  id: z.string(),
  name: z.string(),
  disabled: z.boolean(),
  disabledAt: z.string().nullable(),
  retentionDays: z.number().int().nullable(),
  channels: z.number().int().describe('channels in use'),
  usage: usageShape,
  createdAt: z.string(),
});

export const auditShape = z.object({
  id: z.string(),
  tenantId: z.string().nullable(),
  actor: z.enum(['admin', 'tenant_key', 'cli']).describe('the admin key, a tenant key (actorKeyId), or the command line'),
  actorKeyId: z.string().nullable(),
  via: z.enum(['api', 'dashboard', 'cli']),
  action: z.string().describe('conversation.paused, conversation.resumed, message.sent_by_operator, template.sent, settings.changed, api_key.created, api_key.revoked, tenant.created, tenant.updated, tenant.disabled, tenant.enabled, tenant.deleted, channel.added, channel.token_rotated, channel.updated, channel.removed, contact.erased, tool.created, tool.changed, tool.deleted'),
  target: z.object({ type: z.string(), id: z.string() }).nullable(),
  detail: z.record(z.string(), z.unknown()).describe('a small detail; never a secret, a message text or who a customer is'),
  createdAt: z.string(),
});

export const channelShape = z.object({
  id: z.string(),
  tenantId: z.string(),
  phoneNumberId: z.string(),
  displayPhoneNumber: z.string(),
  messagesPerSecond: z.number().int(),
  wabaId: z.string().nullable().describe('the WhatsApp Business Account its templates are synced from'),
});

export const apiKeyShape = z.object({ id: z.string(), key: z.string().describe('shown this once; only its hash is stored') });

export const apiKeyInfoShape = z.object({
  id: z.string(),
  tenantId: z.string(),
  prefix: z.string().describe("the key's first 8 characters, to tell keys apart"),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable().describe('when it last authenticated a request, to the minute; null: never'),
  revokedAt: z.string().nullable().describe('null while the key works'),
});

export const conversationPage = listOf(conversationShape);
export const messagePage = listOf(messageShape);
export const apiKeyList = z.object({ items: z.array(apiKeyInfoShape) });

export const toolShape = z.object({
  id: z.string(),
  tenantId: z.string(),
  name: z.string(),
  description: z.string(),
  parameters: z.record(z.string(), z.unknown()).describe('JSON Schema of the arguments'),
  url: z.string(),
  hasSecret: z.boolean().describe('secret is write-only: only whether one is set'),
  safeToRepeat: z.boolean(),
  timeoutMs: z.number().int(),
  enabled: z.boolean(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export const toolList = z.object({ items: z.array(toolShape) });
export type ToolShape = z.infer<typeof toolShape>;

const timed = z.object({
  unit: z.literal('ms'),
  last_5_minutes: z.object({ count: z.number().int(), mean: z.number(), p50: z.number(), p95: z.number(), p99: z.number() }),
  since_start: z.object({ count: z.number().int(), mean: z.number(), p50: z.number(), p95: z.number(), p99: z.number() }),
});

/** The body of `GET /performance-metrics` and `GET /api/performance`. */
export const performanceShape = z.object({
  avg_message_processing_time: timed.describe('end-to-end turn time: first customer message stored to answer sent'),
  database_connection_count: z.object({ total: z.number().int(), idle: z.number().int(), waiting: z.number().int(), opened_since_start: z.number().int() }),
  database_operation_time: timed.describe('time of one database statement'),
  queue_wait_time: timed.describe('time a turn waited before its agent call'),
  ai_processing_time: timed.describe("time of a turn's agent (model) call"),
  concurrent_messages: z.object({ current: z.number().int(), peak: z.number().int() }),
});

/**
 * The shapes `/api/openapi.json` lists by name under `components.schemas`
 * and refers to with `$ref`, so that a generated client gets `Conversation`
 * rather than an anonymous object per route.
 */
export const namedSchemas = z.registry<{ id: string }>();
for (const [id, schema] of [
  ['Error', errorBody],
  ['Message', messageShape],
  ['Conversation', conversationShape],
  ['Usage', usageShape],
  ['Session', sessionShape],
  ['SendMessageResult', manualSendShape],
  ['Agent', agentShape],
  ['TenantLimits', limitsShape],
  ['Tenant', tenantShape],
  ['Channel', channelShape],
  ['NewApiKey', apiKeyShape],
  ['ApiKey', apiKeyInfoShape],
  ['PauseRequest', pauseBody],
  ['SendMessageRequest', manualSendBody],
  ['SignInRequest', signInBody],
  ['PerformanceMetrics', performanceShape],
  ['ConversationPage', conversationPage],
  ['MessagePage', messagePage],
  ['ApiKeyList', apiKeyList],
  ['CreateTenantRequest', tenantCreateInput],
  ['UpdateTenantRequest', tenantPatchInput],
  ['CreateChannelRequest', channelCreateInput],
  ['TimedMetric', timed],
  ['Tool', toolShape],
  ['ToolList', toolList],
  ['ToolCall', toolCallShape],
  ['CreateToolRequest', toolCreateInput],
  ['UpdateToolRequest', toolPatchInput],
] as [string, z.ZodType][]) {
  namedSchemas.add(schema, { id });
}
