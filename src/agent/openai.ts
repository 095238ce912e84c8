import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { EgressPolicy } from '../shared/egress.ts';
import { userContent, type ChatContent } from './mediaParts.ts';
import { createAgentDispatcher, postJson } from './postJson.ts';
import { runToolCalls, type ToolRoundMessage } from './tools/toolRounds.ts';
import { AgentError, type Agent, type AgentInput, type AgentOutput, type ToolDefinition } from './types.ts';
import { interactiveFromToolCall, REPLY_WITH_BUTTONS_TOOL, REPLY_WITH_LIST_TOOL } from './interactive.ts';
import { mediaFromToolCall, REPLY_WITH_MEDIA_TOOL } from './mediaReply.ts';

/** The process-wide model (Config.openai): used by tenants that bring no model of their own. */
export interface OpenAiDefaults {
  baseUrl: string;
  apiKey: string | null;
  model: string;
}

/** The name of the agent's own tool that asks for a human (offered beside the reply tools and the tenant's tools). */
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
            .array(z.looseObject({ id: z.string().nullish(), function: z.looseObject({ name: z.string(), arguments: z.string().nullish() }) }))
            .nullish(),
        }),
      }),
    )
    .min(1),
});

/**
 * The chat-completions request body, exactly as docs/behaviour.md describes
 * it; `rounds` (the tool calls and results of this turn so far) follow the
 * turn's messages, and `tools` (the tenant tools offered) follow the handoff
 * tool (docs/tools.md).
 */
export function chatCompletionsBody(
  model: string,
  input: Pick<AgentInput, 'config' | 'history' | 'turn'>,
  extra: { rounds?: readonly ToolRoundMessage[]; tools?: readonly ToolDefinition[] } = {},
): string {
  const messages: object[] = [];
  // A blank system prompt is left out: several compatible servers refuse an empty message.
  if (input.config.systemPrompt.trim()) messages.push({ role: 'system', content: input.config.systemPrompt });
  for (const m of input.history) messages.push({ role: m.role, content: m.content });
  // Each customer message of the turn is its own user message, and nothing follows the last.
  for (const m of input.turn) messages.push({ role: 'user', content: userContent(m) });
  if (extra.rounds) messages.push(...extra.rounds);
  return JSON.stringify({ model, messages, tools: [HANDOFF_TOOL, REPLY_WITH_BUTTONS_TOOL, REPLY_WITH_LIST_TOOL, REPLY_WITH_MEDIA_TOOL, ...(extra.tools ?? [])], stream: false });
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
    const url = completionsUrl(own ?? this.defaults.baseUrl);
    // Tool rounds (docs/tools.md): while the model calls only tenant tools, run them and ask again,
    // at most maxToolRounds times; the last request offers no tenant tool, so it must answer.
    const tools = input.tools && input.config.maxToolRounds > 0 ? input.tools : null;
    const rounds: ToolRoundMessage[] = [];
    for (let round = 0; ; round++) {
      const offered = tools && round < input.config.maxToolRounds ? tools.definitions : [];
      const json = await postJson(dispatcher, url, headers, chatCompletionsBody(model, input, { rounds, tools: offered }), input.signal);
      const parsed = completion.safeParse(json);
      if (!parsed.success) {
        throw new AgentError('agent_invalid_answer', `chat completion of unexpected shape: ${parsed.error.issues[0]?.message ?? 'invalid'}`, true);
      }
      const message = parsed.data.choices[0].message;
      const calls = message.tool_calls ?? [];
      const handoff = calls.some((c) => c.function.name === HANDOFF_TOOL_NAME);
      if (!tools || offered.length === 0 || handoff || calls.length === 0 || !calls.every((c) => tools.has(c.function.name))) {
        return replyOf(message.content, calls, handoff);
      }
      rounds.push(...(await runToolCalls(tools, message.content ?? null, calls, input.signal)));
      // A turn stopped while its tools ran (restart, pause) asks the model nothing more.
      input.signal.throwIfAborted();
    }
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

/**
 * The answer of the model's last message: its text, or a reply tool's
 * (buttons, a list, a file); a reply tool called with arguments of the wrong
 * shape is ignored.
 */
function replyOf(content: Parameters<typeof textOf>[0], calls: { function: { name: string; arguments?: string | null } }[], handoff: boolean): AgentOutput {
  const out: AgentOutput = { reply: textOf(content), handoff };
  for (const c of calls) {
    const interactive = interactiveFromToolCall(c.function.name, c.function.arguments);
    if (interactive) Object.assign(out, { reply: interactive.text || out.reply, choice: interactive.choice }, interactive.quote ? { quote: true } : {});
    const media = mediaFromToolCall(c.function.name, c.function.arguments);
    if (media) Object.assign(out, { reply: media.text || out.reply, media: media.media }, media.quote ? { quote: true } : {});
  }
  return out;
}
