import { z } from 'zod';
import type { AgentConfig } from './agentConfig.ts';

/** History messages a turn may show the agent, unless the operator sets another ceiling for the tenant. */
export const DEFAULT_MAX_HISTORY_LENGTH = 50;
/** Characters of system prompt a tenant may save, unless the operator sets another ceiling. */
export const DEFAULT_MAX_SYSTEM_PROMPT_CHARS = 8_000;

/**
 * The process's model rules (from Config): the model a tenant without one of
 * its own gets, and the models any tenant may choose on the operator's key
 * unless the operator gave it a list of its own.
 */
export interface ModelPolicy {
  readonly defaultModel: string;
  readonly allowedModels: readonly string[];
  /** OPENAI_TRANSCRIPTION_MODEL: the transcription model of tenants that set none; absent or null: none. */
  readonly defaultTranscriptionModel?: string | null;
  /** WAGATE_ALLOWED_TRANSCRIPTION_MODELS: the transcription models any tenant may choose on the operator's key; absent: none but the default. */
  readonly allowedTranscriptionModels?: readonly string[];
}

/**
 * What only the operator (the admin key) sets for a tenant, as the API takes
 * it. Fields left out keep their value; null returns to the default.
 */
export const tenantLimitsInput = z.strictObject({
  allowedModels: z
    .array(z.string().trim().min(1).max(200))
    .max(100)
    .nullable()
    .optional()
    .describe("models this tenant may choose on the operator's model key; null: the process's WAGATE_ALLOWED_MODELS. OPENAI_MODEL is always allowed"),
  allowedTranscriptionModels: z
    .array(z.string().trim().min(1).max(200))
    .max(100)
    .nullable()
    .optional()
    .describe(
      "transcription models this tenant may choose on the operator's model key; null: the process's WAGATE_ALLOWED_TRANSCRIPTION_MODELS. OPENAI_TRANSCRIPTION_MODEL is always allowed",
    ),
  maxHistoryLength: z
    .number()
    .int()
    .min(0)
    .max(200)
    .nullable()
    .optional()
    .describe(`ceiling of agent.historyLength; null: ${DEFAULT_MAX_HISTORY_LENGTH}`),
  maxSystemPromptChars: z
    .number()
    .int()
    .min(0)
    .max(20_000)
    .nullable()
    .optional()
    .describe(`ceiling of agent.systemPrompt's length; null: ${DEFAULT_MAX_SYSTEM_PROMPT_CHARS.toLocaleString('en')}`),
});
export type TenantLimitsInput = z.infer<typeof tenantLimitsInput>;

/** The limits as stored: null is the default. */
export interface StoredLimits {
  allowedModels: string[] | null;
  allowedTranscriptionModels: string[] | null;
  maxHistoryLength: number | null;
  maxSystemPromptChars: number | null;
}

/** The limits in force: the tenant's own, defaults filled in. */
export interface TenantLimits {
  /** The tenant's own list; null: the process's. */
  allowedModels: string[] | null;
  /** The tenant's own list of transcription models; null: the process's. */
  allowedTranscriptionModels: string[] | null;
  maxHistoryLength: number;
  maxSystemPromptChars: number;
}

/** Fills the defaults over what is stored. */
export function resolveLimits(stored: StoredLimits): TenantLimits {
  return {
    allowedModels: stored.allowedModels,
    allowedTranscriptionModels: stored.allowedTranscriptionModels,
    maxHistoryLength: stored.maxHistoryLength ?? DEFAULT_MAX_HISTORY_LENGTH,
    maxSystemPromptChars: stored.maxSystemPromptChars ?? DEFAULT_MAX_SYSTEM_PROMPT_CHARS,
  };
}

/** The stored limits after a change: fields given replace, null included. */
export function mergeLimits(stored: StoredLimits, input: TenantLimitsInput | undefined): StoredLimits {
  const out = { ...stored };
  if (input?.allowedModels !== undefined) out.allowedModels = input.allowedModels;
  if (input?.allowedTranscriptionModels !== undefined) out.allowedTranscriptionModels = input.allowedTranscriptionModels;
  if (input?.maxHistoryLength !== undefined) out.maxHistoryLength = input.maxHistoryLength;
  if (input?.maxSystemPromptChars !== undefined) out.maxSystemPromptChars = input.maxSystemPromptChars;
  return out;
}

/** The models a tenant may use on the operator's key: its list (or the process's), and always the default model. */
export function modelsOnOperatorKey(limits: Pick<TenantLimits, 'allowedModels'>, policy: ModelPolicy): string[] {
  return [...new Set([policy.defaultModel, ...(limits.allowedModels ?? policy.allowedModels)])];
}

/**
 * The transcription models a tenant may use on the operator's key: its list
 * (or the process's), and always the process's default transcription model.
 */
export function transcriptionModelsOnOperatorKey(limits: Pick<TenantLimits, 'allowedTranscriptionModels'>, policy: ModelPolicy): string[] {
  const dflt = policy.defaultTranscriptionModel ? [policy.defaultTranscriptionModel] : [];
  return [...new Set([...dflt, ...(limits.allowedTranscriptionModels ?? policy.allowedTranscriptionModels ?? [])])];
}

/**
 * Whether the operator pays for this agent's transcriptions: the media lane
 * uses a tenant's own key or base URL only for the `openai` provider
 * (src/media/lane.ts), so every other provider transcribes on the operator's.
 */
export function transcriptionPaysOperator(agent: Pick<AgentConfig, 'provider' | 'baseUrl'>, hasApiKey: boolean): boolean {
  return agent.provider !== 'openai' || paysOperator(agent, hasApiKey);
}

/**
 * Whether the operator pays for this agent's model calls: the tenant brought
 * neither a key nor a base URL of its own (a tenant's own URL never receives
 * the operator's key, see src/agent/openai.ts).
 */
export function paysOperator(agent: Pick<AgentConfig, 'baseUrl'>, hasApiKey: boolean): boolean {
  return !agent.baseUrl && !hasApiKey;
}

/** At most `max` UTF-16 units, never ending in half of a surrogate pair. */
export function clampText(s: string, max: number): string {
  if (s.length <= max) return s;
  const cut = s.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/**
 * The agent configuration a turn runs with. The operator may lower a ceiling
 * or narrow the allowed models after the tenant saved more; the turn then
 * uses the ceiling, and a model no longer allowed on the operator's key gives
 * way to the default model (a transcription model to the default
 * transcription model), instead of failing the customer's answer.
 */
export function clampAgent(agent: AgentConfig, hasApiKey: boolean, limits: TenantLimits, policy: ModelPolicy): AgentConfig {
  const modelAllowed = agent.model === null || !paysOperator(agent, hasApiKey) || modelsOnOperatorKey(limits, policy).includes(agent.model);
  const t = agent.transcriptionModel;
  const transcriptionAllowed = !t || !transcriptionPaysOperator(agent, hasApiKey) || transcriptionModelsOnOperatorKey(limits, policy).includes(t);
  return {
    ...agent,
    model: modelAllowed ? agent.model : null,
    // A transcription model no longer allowed gives way to the process's default.
    transcriptionModel: transcriptionAllowed ? t : undefined,
    historyLength: Math.min(agent.historyLength, limits.maxHistoryLength),
    systemPrompt: clampText(agent.systemPrompt, limits.maxSystemPromptChars),
  };
}
