import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { EgressPolicy } from '../shared/egress.ts';
import { userContent, type ChatContent } from './mediaParts.ts';
import { createAgentDispatcher, postJson } from './postJson.ts';
import { AgentError, type Agent, type AgentInput, type AgentOutput } from './types.ts';

/** The process-wide model (Config.openai): used by tenants that bring no model of their own. */
export interface OpenAiDefaults {
  baseUrl: string;
  apiKey: string | null;
  model: string;
}

/** The name of the one tool offered to the model: calling it asks for a human. */
export const HANDOFF_TOOL_NAME = 'handoff_to_human';

const HANDOFF_TOOL = {
  type: 'function',
  function: {
    name: HANDOFF_TOOL_NAME,
    description:
      'Hand the conversation over to a human member of staff: when the customer asks for a person, or when you cannot help. A person answers next; you stay silent until then.',
    parameters: {
      type: 'object',
      properties: { reason: { type: 'string', description: 'Why a person is needed, in a few words.' } },
      required: [],
    },
  },
} as const;

// Some OpenAI-compatible servers answer content as an array of parts.
const content = z.union([z.string(), z.array(z.looseObject({ type: z.string(), text: z.string().optional() }))]).nullish();

const completion = z.looseObject({
  choices: z
    .array(
      z.looseObject({
        message: z.looseObject({
          content,
          tool_calls: z
            .array(z.looseObject({ function: z.looseObject({ name: z.string(), arguments: z.string().nullish() }) }))
            .nullish(),
        }),
      }),
    )
    .min(1),
});

/** The chat-completions request body, exactly as docs/behaviour.md describes it. */
export function chatCompletionsBody(model: string, input: Pick<AgentInput, 'config' | 'history' | 'turn'>): string {
  const messages: { role: string; content: ChatContent }[] = [];
  // A blank system prompt is left out: several compatible servers refuse an empty message.
  if (input.config.systemPrompt.trim()) messages.push({ role: 'system', content: input.config.systemPrompt });
  for (const m of input.history) messages.push({ role: m.role, content: m.content });
  // Each customer message of the turn is its own user message, and nothing follows the last.
  for (const m of input.turn) messages.push({ role: 'user', content: userContent(m) });
  return JSON.stringify({ model, messages, tools: [HANDOFF_TOOL], stream: false });
}

/**
 * The `openai` provider: any OpenAI-compatible chat-completions endpoint,
 * `POST {baseUrl}/chat/completions`, not streamed. A tool call to
 * `handoff_to_human` is a handoff. Errors are AgentErrors classified by
 * postJson (429, 5xx, network and garbage are retryable; other 4xx not).
 *
 * Which endpoint and key: a tenant with its own `baseUrl` gets exactly that
 * URL (through the egress policy) and its own key (no key: no Authorization header, as local servers
 * expect). The process key is never sent to a tenant's own URL, which the
 * tenant controls. A tenant without its own URL uses the process's URL,
 * with its own key when set, else the process key.
 */
export class OpenAiAgent implements Agent {
  private readonly dispatcher: Dispatcher;
  private readonly tenantDispatcher: Dispatcher;
  private readonly owned: Dispatcher[] = [];

  /**
   * `dispatcher` reaches the process's own URL, which the operator set;
   * `tenantDispatcher` reaches a tenant's own `baseUrl` and must apply the
   * egress policy (docs/security.md). Each one not given is made here: the
   * tenant one with a policy that allows public addresses only.
   */
  constructor(
    private readonly defaults: OpenAiDefaults,
    opts: { dispatcher?: Dispatcher; tenantDispatcher?: Dispatcher } = {},
  ) {
    this.dispatcher = opts.dispatcher ?? this.own(createAgentDispatcher());
    this.tenantDispatcher = opts.tenantDispatcher ?? this.own(createAgentDispatcher({ egress: new EgressPolicy() }));
  }

  private own(d: Dispatcher): Dispatcher {
    this.owned.push(d);
    return d;
  }

  async run(input: AgentInput): Promise<AgentOutput> {
    if (input.turn.length === 0) throw new AgentError('agent_empty_turn', 'a turn needs at least one customer message', false);
    const own = input.config.baseUrl;
    const key = own ? input.apiKey : (input.apiKey ?? this.defaults.apiKey);
    const model = input.config.model ?? this.defaults.model;
    const headers: Record<string, string> = {};
    if (key) headers.authorization = `Bearer ${key}`;
    const dispatcher = own ? this.tenantDispatcher : this.dispatcher;
    const json = await postJson(dispatcher, completionsUrl(own ?? this.defaults.baseUrl), headers, chatCompletionsBody(model, input), input.signal);
    const parsed = completion.safeParse(json);
    if (!parsed.success) {
      throw new AgentError('agent_invalid_answer', `chat completion of unexpected shape: ${parsed.error.issues[0]?.message ?? 'invalid'}`, true);
    }
    const message = parsed.data.choices[0].message;
    const handoff = (message.tool_calls ?? []).some((c) => c.function.name === HANDOFF_TOOL_NAME);
    return { reply: textOf(message.content), handoff };
  }

  /** Closes the dispatchers this agent made itself. */
  async close(): Promise<void> {
    await Promise.all(this.owned.map((d) => d.close()));
  }
}

/** `{base}/chat/completions`, keeping a query the base may carry (Azure's `?api-version=…`). */
export function completionsUrl(baseUrl: string): string {
  const q = baseUrl.indexOf('?');
  const path = (q < 0 ? baseUrl : baseUrl.slice(0, q)).replace(/\/+$/, '');
  return path + '/chat/completions' + (q < 0 ? '' : baseUrl.slice(q));
}

function textOf(c: z.infer<typeof content>): string | null {
  if (c == null) return null;
  const text = (typeof c === 'string' ? c : c.map((p) => p.text ?? '').join('')).trim();
  return text || null;
}
