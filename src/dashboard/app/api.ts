import type { ConversationShape, MessageShape, ToolShape } from '../../api/schemas.ts';

export type Conversation = ConversationShape;
export type Message = MessageShape;
export type Tool = ToolShape;

/** A tenant key as the API lists it: never the key itself. */
export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** An event subscription as the API shows it: never its secret. */
export interface EventSubscription {
  id: string;
  url: string;
  events: string[];
  paused: boolean;
  pauseReason: string | null;
  failingSince: string | null;
  consecutiveFailures: number;
  createdAt: string;
}

/** One event for one subscription, with its latest attempts. */
export interface EventDelivery {
  id: string;
  eventId: string;
  type: string;
  conversationId: string | null;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  nextAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  log: { at: string; status: number | null; ms: number; error: string | null }[];
  createdAt: string;
}

/** A page of a list. */
/** A synced message template (GET /api/templates). */
export interface Template {
  id: string;
  channelId: string;
  name: string;
  language: string;
  category: string | null;
  status: string;
  parameterFormat: string;
  components: { type: string; format?: string; text?: string; buttons?: { type: string; text?: string; url?: string }[] }[];
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface Session {
  kind: 'admin' | 'tenant';
  tenantId: string | null;
  tenantName: string | null;
}

export interface Usage {
  month: string;
  count: number;
  limit: number | null;
}

/** The agent configuration as GET /api/settings shows it. */
export interface AgentSettings {
  provider: 'openai' | 'http' | 'demo';
  model: string | null;
  systemPrompt: string;
  baseUrl: string | null;
  url: string | null;
  historyLength: number;
  timeoutMs: number;
  coalesce: 'restart' | 'queue';
  debounceMs: number;
  maxDebounceMs: number;
  handoffKeywords: string[];
  handoffMessage: string | null;
  quotaNotice: string | null;
  fallbackMessage: string;
  handoffOnAgentFailure: boolean;
  markReadWithTyping: boolean;
  autoPauseOnOperatorReply: boolean;
  resumeAfterMinutes: number | null;
  answerBudget: { answers: number; perSeconds: number };
  maxToolRounds: number;
  vision: boolean;
  /** Absent: the gateway's default transcription model; null: no transcription. */
  transcriptionModel?: string | null;
  hasApiKey: boolean;
  hasSecret: boolean;
}

/** What only the operator sets for a tenant; shown read-only. */
export interface TenantLimits {
  allowedModels: string[] | null;
  allowedTranscriptionModels: string[] | null;
  maxHistoryLength: number;
  maxSystemPromptChars: number;
  effectiveAllowedModels: string[];
  effectiveAllowedTranscriptionModels: string[];
}

export interface TenantSettings {
  id: string;
  name: string;
  monthlyMessageLimit: number | null;
  limits: TenantLimits;
  agent: AgentSettings;
}

/** A tenant in the admin's list: its state and this month's usage. */
export interface TenantSummary {
  id: string;
  name: string;
  disabled: boolean;
  disabledAt: string | null;
  retentionDays: number | null;
  channels: number;
  usage: Usage;
  createdAt: string;
}

/** A channel (a WhatsApp number): never its token or secrets. */
export interface Channel {
  id: string;
  tenantId: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
  messagesPerSecond: number;
}

/** One operator action of the audit log. */
export interface AuditEntry {
  id: string;
  tenantId: string | null;
  actor: 'admin' | 'tenant_key' | 'cli';
  actorKeyId: string | null;
  via: 'api' | 'dashboard' | 'cli';
  action: string;
  target: { type: string; id: string } | null;
  detail: Record<string, unknown>;
  createdAt: string;
}

/** An error the API answered with: its status and `{error:{code,message}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Called when the API says the session is gone (401): the app shows the sign-in again. */
let onSignedOut: () => void = () => {};
export function whenSignedOut(fn: () => void): void {
  onSignedOut = fn;
}

/**
 * One API call. The session cookie rides along (same origin); the key itself
 * is never visible to this code. A 401 outside sign-in ends the session.
 */
export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    credentials: 'same-origin',
    headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 204) return undefined as T;
  let json: unknown = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = (json as { error?: { code?: string; message?: string } } | null)?.error;
    const err = new ApiError(res.status, e?.code ?? 'http_' + res.status, e?.message ?? `request failed (${res.status})`);
    if (res.status === 401 && path !== '/api/session') onSignedOut();
    throw err;
  }
  return json as T;
}

export const api = {
  session: () => call<Session>('GET', '/api/session'),
  signIn: (key: string) => call<Session>('POST', '/api/session', { key }),
  signOut: () => call<void>('DELETE', '/api/session'),
  conversations: (query: Record<string, string>) => call<Page<Conversation>>('GET', '/api/conversations?' + new URLSearchParams(query)),
  conversation: (id: string) => call<Conversation>('GET', `/api/conversations/${encodeURIComponent(id)}`),
  latestMessages: (id: string, limit = 100) => call<Page<Message>>('GET', `/api/conversations/${encodeURIComponent(id)}/messages?order=desc&limit=${limit}`),
  olderMessages: (id: string, cursor: string) => call<Page<Message>>('GET', `/api/conversations/${encodeURIComponent(id)}/messages?cursor=${encodeURIComponent(cursor)}`),
  pause: (id: string, minutes: number | null) => call<Conversation>('POST', `/api/conversations/${encodeURIComponent(id)}/pause`, minutes === null ? {} : { minutes }),
  resume: (id: string) => call<Conversation>('POST', `/api/conversations/${encodeURIComponent(id)}/resume`),
  markRead: (id: string) => call<void>('POST', `/api/conversations/${encodeURIComponent(id)}/read`),
  send: (id: string, text: string) => call<{ messages: Message[]; paused: boolean }>('POST', `/api/conversations/${encodeURIComponent(id)}/messages`, { text }),
  sendRich: (id: string, body: Record<string, unknown>) => call<{ messages: Message[]; paused: boolean }>('POST', `/api/conversations/${encodeURIComponent(id)}/messages`, body),
  templates: (channelId: string) => call<Page<Template>>('GET', `/api/templates?status=APPROVED&limit=500&channelId=${encodeURIComponent(channelId)}`),
  syncTemplates: (channelId: string) => call<{ channels: { channelId: string; synced: number; removed: number; error: { code: string; message: string } | null }[] }>('POST', '/api/templates/sync', { channelId }),
  sendTemplate: (id: string, body: Record<string, unknown>) => call<{ messages: Message[]; windowOpen: boolean }>('POST', `/api/conversations/${encodeURIComponent(id)}/template`, body),
  usage: () => call<Usage>('GET', '/api/usage'),
  settings: () => call<TenantSettings>('GET', '/api/settings'),
  saveSettings: (patch: Record<string, unknown>) => call<TenantSettings>('PATCH', '/api/settings', patch),
  performance: () => call<Record<string, any>>('GET', '/api/performance'),
  apiKeys: (tenantId: string) => call<{ items: ApiKeyInfo[] }>('GET', `/api/tenants/${encodeURIComponent(tenantId)}/api-keys`),
  createApiKey: (tenantId: string) => call<{ id: string; key: string }>('POST', `/api/tenants/${encodeURIComponent(tenantId)}/api-keys`),
  tools: () => call<{ items: Tool[] }>('GET', '/api/tools'),
  createTool: (body: Record<string, unknown>) => call<Tool>('POST', '/api/tools', body),
  updateTool: (id: string, patch: Record<string, unknown>) => call<Tool>('PATCH', `/api/tools/${encodeURIComponent(id)}`, patch),
  deleteTool: (id: string) => call<Tool>('DELETE', `/api/tools/${encodeURIComponent(id)}`),
  revokeApiKey: (id: string) => call<ApiKeyInfo>('DELETE', `/api/api-keys/${encodeURIComponent(id)}`),
  tenants: (query: Record<string, string>) => call<Page<TenantSummary>>('GET', '/api/tenants?' + new URLSearchParams(query)),
  updateTenant: (id: string, patch: { name?: string; monthlyMessageLimit?: number | null }) => call<{ id: string; name: string }>('PATCH', `/api/tenants/${encodeURIComponent(id)}`, patch),
  disableTenant: (id: string) => call<{ id: string; disabled: boolean }>('POST', `/api/tenants/${encodeURIComponent(id)}/disable`),
  enableTenant: (id: string) => call<{ id: string; disabled: boolean }>('POST', `/api/tenants/${encodeURIComponent(id)}/enable`),
  deleteTenant: (id: string) => call<{ id: string; status: 'deleting' }>('DELETE', `/api/tenants/${encodeURIComponent(id)}`),
  channels: (tenantId: string) => call<{ items: Channel[] }>('GET', `/api/tenants/${encodeURIComponent(tenantId)}/channels`),
  rotateChannelToken: (id: string, accessToken: string) => call<Channel>('PATCH', `/api/channels/${encodeURIComponent(id)}`, { accessToken }),
  removeChannel: (id: string) => call<Channel>('DELETE', `/api/channels/${encodeURIComponent(id)}`),
  audit: (query: Record<string, string>) => call<Page<AuditEntry>>('GET', '/api/audit?' + new URLSearchParams(query)),
  eventSubscriptions: () => call<{ items: EventSubscription[] }>('GET', '/api/event-subscriptions'),
  createEventSubscription: (body: { url: string; secret: string; events: string[] }) => call<EventSubscription>('POST', '/api/event-subscriptions', body),
  updateEventSubscription: (id: string, patch: { paused?: boolean }) => call<EventSubscription>('PATCH', `/api/event-subscriptions/${encodeURIComponent(id)}`, patch),
  deleteEventSubscription: (id: string) => call<EventSubscription>('DELETE', `/api/event-subscriptions/${encodeURIComponent(id)}`),
  eventDeliveries: (id: string) => call<Page<EventDelivery>>('GET', `/api/event-subscriptions/${encodeURIComponent(id)}/deliveries?limit=50`),
  redeliver: (id: string) => call<EventDelivery>('POST', `/api/event-deliveries/${encodeURIComponent(id)}/redeliver`),
};
