import { z } from 'zod';

/**
 * Bounds of the answer budget. The reply commit keeps one timestamp per
 * counted answer on the conversation row, and a conversation over its budget
 * waits in memory holding its lease: both stay small.
 */
export const MAX_BUDGET_ANSWERS = 100;
export const MAX_BUDGET_SECONDS = 3_600;

/** Most rounds of tool calls in one turn (docs/tools.md): each round is one more model call. */
export const MAX_TOOL_ROUNDS = 8;
export const DEFAULT_TOOL_ROUNDS = 3;

/** Words that contain only what a customer-facing text may hold. */
const text = (max: number) => z.string().max(max);

/** A tenant's agent configuration as the API takes it (docs/behaviour.md). Secrets are write-only. */
export const agentConfigInput = z.strictObject({
  provider: z.enum(['openai', 'http', 'demo']).optional(),
  model: text(200).min(1).nullable().optional(),
  systemPrompt: text(20_000).optional(),
  baseUrl: z.url({ protocol: /^https?$/ }).nullable().optional(),
  apiKey: text(1000).min(1).nullable().optional(),
  url: z.url({ protocol: /^https?$/ }).nullable().optional(),
  secret: text(1000).min(1).nullable().optional(),
  historyLength: z.number().int().min(0).max(200).optional(),
  timeoutMs: z.number().int().min(100).max(300_000).optional(),
  coalesce: z.enum(['restart', 'queue']).optional(),
  debounceMs: z.number().int().min(0).max(60_000).optional(),
  maxDebounceMs: z.number().int().min(0).max(300_000).optional(),
  handoffKeywords: z.array(text(100).min(1)).max(100).optional(),
  handoffMessage: text(4096).nullable().optional(),
  quotaNotice: text(4096).nullable().optional(),
  fallbackMessage: text(4096).optional(),
  handoffOnAgentFailure: z.boolean().optional(),
  markReadWithTyping: z.boolean().optional(),
  autoPauseOnOperatorReply: z.boolean().optional(),
  resumeAfterMinutes: z.number().int().min(1).max(525_600).nullable().optional(),
  vision: z.boolean().optional(),
  /** '': back to the process's default (OPENAI_TRANSCRIPTION_MODEL); null: no transcription. */
  transcriptionModel: text(200).nullable().optional(),
  answerBudget: z
    .strictObject({
      answers: z.number().int().min(1).max(MAX_BUDGET_ANSWERS),
      perSeconds: z.number().int().min(1).max(MAX_BUDGET_SECONDS),
    })
    .optional(),
  maxToolRounds: z.number().int().min(0).max(MAX_TOOL_ROUNDS).optional(),
  windowClosedTemplate: z
    .strictObject({
      name: text(512).min(1),
      language: text(32).min(1),
      parameters: z.union([z.array(text(1024)).max(100), z.record(z.string().regex(/^[A-Za-z0-9_]{1,64}$/), text(1024))]).optional(),
      header: z
        .union([
          z.strictObject({ text: text(60).min(1) }),
          z.strictObject({ type: z.enum(['image', 'document', 'video']), url: z.url({ protocol: /^https$/ }).max(2048), filename: text(240).min(1).optional() }),
          z.strictObject({
            type: z.literal('location'),
            latitude: z.number().min(-90).max(90),
            longitude: z.number().min(-180).max(180),
            name: text(1000).min(1).optional(),
            address: text(1000).min(1).optional(),
          }),
        ])
        .optional(),
      buttons: z
        .array(z.strictObject({ index: z.number().int().min(0).max(9), parameters: z.array(text(2000).min(1)).min(1).max(1) }))
        .max(10)
        .optional(),
    })
    .nullable()
    .optional(),
});
export type AgentConfigInput = z.infer<typeof agentConfigInput>;

/** The agent configuration with every default applied. */
export interface AgentConfig {
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
  /** The model takes images: a customer's images and stickers reach it as image content parts (docs/media.md). */
  vision: boolean;
  /**
   * The model of `/audio/transcriptions` for voice notes; undefined (never
   * set, or stored as ''): the process default (OPENAI_TRANSCRIPTION_MODEL);
   * null: no transcription.
   */
  transcriptionModel: string | null | undefined;
  /** At most `answers` agent replies to one conversation in any `perSeconds` (docs/behaviour.md, "The answer budget"). */
  answerBudget: AnswerBudget;
  /** Rounds of tenant tool calls the openai agent may make in one turn; 0 offers no tenant tools (docs/tools.md). */
  maxToolRounds: number;
  /**
   * Opt-in: the template sent instead when the agent has an answer but the
   * customer's 24-hour window has closed (docs/templates.md); null: no answer
   * goes out, the disposition is window_closed.
   */
  windowClosedTemplate: WindowClosedTemplate | null;
}

/** A template and its fixed parameters. */
export interface WindowClosedTemplate {
  name: string;
  language: string;
  parameters?: string[] | Record<string, string>;
  /** A text header's parameter, a media header's file by https URL (WhatsApp fetches it), or a location header's place. */
  header?:
    | { text: string }
    | { type: 'image' | 'document' | 'video'; url: string; filename?: string }
    | { type: 'location'; latitude: number; longitude: number; name?: string; address?: string };
  /** The parameters of buttons whose URL takes one, by the button's index. */
  buttons?: { index: number; parameters: string[] }[];
}

/** A per-conversation answer budget: a sliding window of `perSeconds` holding at most `answers` replies. */
export interface AnswerBudget {
  answers: number;
  perSeconds: number;
}

/**
 * Ten answers a minute: Meta's pair rate limit allows about one message every
 * 6 s to one customer (error 131056), so a faster pace would be refused and
 * backed off anyway, while a person reading each answer never reaches it.
 */
export const DEFAULT_ANSWER_BUDGET: AnswerBudget = Object.freeze({ answers: 10, perSeconds: 60 });

export const DEFAULT_FALLBACK = "Sorry, I can't answer right now. A person will get back to you.";

/** Fills the defaults (docs/behaviour.md, "The agent configuration") over what is stored. */
export function withDefaults(stored: Partial<AgentConfig>, defaultProvider: AgentConfig['provider']): AgentConfig {
  return {
    provider: stored.provider ?? defaultProvider,
    model: stored.model ?? null,
    systemPrompt: stored.systemPrompt ?? 'You are a helpful assistant answering customers on WhatsApp. Be brief.',
    baseUrl: stored.baseUrl ?? null,
    url: stored.url ?? null,
    historyLength: stored.historyLength ?? 20,
    timeoutMs: stored.timeoutMs ?? 30_000,
    coalesce: stored.coalesce ?? 'restart',
    debounceMs: stored.debounceMs ?? 0,
    maxDebounceMs: stored.maxDebounceMs ?? 5_000,
    handoffKeywords: stored.handoffKeywords ?? [],
    handoffMessage: stored.handoffMessage ?? null,
    quotaNotice: stored.quotaNotice ?? null,
    fallbackMessage: stored.fallbackMessage ?? DEFAULT_FALLBACK,
    handoffOnAgentFailure: stored.handoffOnAgentFailure ?? false,
    markReadWithTyping: stored.markReadWithTyping ?? true,
    autoPauseOnOperatorReply: stored.autoPauseOnOperatorReply ?? true,
    resumeAfterMinutes: stored.resumeAfterMinutes ?? null,
    answerBudget: stored.answerBudget ?? DEFAULT_ANSWER_BUDGET,
    maxToolRounds: stored.maxToolRounds ?? DEFAULT_TOOL_ROUNDS,
    windowClosedTemplate: stored.windowClosedTemplate ?? null,
    vision: stored.vision ?? false,
    transcriptionModel: stored.transcriptionModel === '' ? undefined : stored.transcriptionModel,
  };
}

/** Splits input into what is stored in clear and the secrets, which are stored encrypted. */
export function splitSecrets(input: AgentConfigInput): { plain: Record<string, unknown>; secrets: { apiKey?: string | null; secret?: string | null } } {
  const { apiKey, secret, ...plain } = input;
  const secrets: { apiKey?: string | null; secret?: string | null } = {};
  if (apiKey !== undefined) secrets.apiKey = apiKey;
  if (secret !== undefined) secrets.secret = secret;
  return { plain, secrets };
}
