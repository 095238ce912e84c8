import type { ConversationShape, MessageShape } from '../../api/schemas.ts';

export type Conversation = ConversationShape;
export type Message = MessageShape;

/** A tenant key as the API lists it: never the key itself. */
export interface ApiKeyInfo {
  id: string;
  tenantId: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** A page of a list. */
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
  vision: boolean;
  transcriptionModel?: string | null;
  hasApiKey: boolean;
  hasSecret: boolean;
}

/** What only the operator sets for a tenant; shown read-only. */
export interface TenantLimits {
  allowedModels: string[] | null;
  maxHistoryLength: number;
  maxSystemPromptChars: number;
  effectiveAllowedModels: string[];
}

export interface TenantSettings {
  id: string;
  name: string;
  monthlyMessageLimit: number | null;
  limits: TenantLimits;
  agent: AgentSettings;
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
  usage: () => call<Usage>('GET', '/api/usage'),
  settings: () => call<TenantSettings>('GET', '/api/settings'),
  saveSettings: (patch: Record<string, unknown>) => call<TenantSettings>('PATCH', '/api/settings', patch),
  performance: () => call<Record<string, any>>('GET', '/api/performance'),
  apiKeys: (tenantId: string) => call<{ items: ApiKeyInfo[] }>('GET', `/api/tenants/${encodeURIComponent(tenantId)}/api-keys`),
  createApiKey: (tenantId: string) => call<{ id: string; key: string }>('POST', `/api/tenants/${encodeURIComponent(tenantId)}/api-keys`),
  revokeApiKey: (id: string) => call<ApiKeyInfo>('DELETE', `/api/api-keys/${encodeURIComponent(id)}`),
};
