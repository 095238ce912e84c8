import type { Dispatcher } from 'undici';
import { z } from 'zod';
import { EgressPolicy } from '../shared/egress.ts';
import { SIGNATURE_HEADER, signRequest, TIMESTAMP_HEADER } from '../shared/requestSignature.ts';
import { createAgentDispatcher, postJson } from './postJson.ts';
import { AgentError, type Agent, type AgentInput, type AgentOutput } from './types.ts';
import { buttonsSchema, listSchema } from './interactive.ts';
import { mediaReplySchema } from './mediaReply.ts';

export { SIGNATURE_HEADER, TIMESTAMP_HEADER };

const answer = z.looseObject({
  reply: z.string().nullable(),
  handoff: z.boolean().optional(),
  buttons: buttonsSchema.optional(),
  list: listSchema.optional(),
  media: mediaReplySchema.optional(),
  quote: z.boolean().optional(),
});

/** The signature of an `http` agent request (see signRequest, which event deliveries use too). */
export const signAgentRequest = signRequest;

/** The JSON the `http` provider posts (docs/behaviour.md, "Agent providers"). */
export function httpAgentBody(input: Pick<AgentInput, 'tenantId' | 'conversationId' | 'contact' | 'config' | 'history' | 'turn'>): string {
  return JSON.stringify({
    tenantId: input.tenantId,
    conversationId: input.conversationId,
    contact: input.contact,
    systemPrompt: input.config.systemPrompt,
    history: input.history.map((m) => ({ role: m.role, content: m.content })),
    messages: input.turn.map((m) => ({ role: 'user', content: m.content })),
  });
}

/**
 * The `http` provider: POSTs the conversation as JSON to the tenant's
 * `config.url`, signed with its `secret` (see signAgentRequest; without a
 * secret the request goes unsigned, with the timestamp only), and expects
 * `{"reply": string|null, "handoff"?: boolean}`, optionally with `buttons`
 * or `list` (interactive.ts), `media` ({type, url, filename}) and `quote`. Any other answer is a
 * retryable `agent_invalid_answer`; HTTP and network errors are classified
 * as for `openai`.
 */
export class HttpAgent implements Agent {
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;

  /**
   * `dispatcher` must apply the egress policy: the URL is the tenant's
   * (docs/security.md). Without one, one is made with a policy that allows
   * public addresses only.
   */
  constructor(opts: { dispatcher?: Dispatcher } = {}) {
    this.dispatcher = opts.dispatcher ?? createAgentDispatcher({ egress: new EgressPolicy() });
    this.ownsDispatcher = !opts.dispatcher;
  }

  async run(input: AgentInput): Promise<AgentOutput> {
    const url = input.config.url;
    if (!url) throw new AgentError('agent_not_configured', 'the http agent has no url', false);
    if (input.turn.length === 0) throw new AgentError('agent_empty_turn', 'a turn needs at least one customer message', false);
    const body = httpAgentBody(input);
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = { [TIMESTAMP_HEADER]: String(timestamp) };
    if (input.secret) headers[SIGNATURE_HEADER] = signAgentRequest(input.secret, timestamp, body);
    const json = await postJson(this.dispatcher, url, headers, body, input.signal);
    const parsed = answer.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
      throw new AgentError('agent_invalid_answer', `http agent answered an invalid answer${where}: ${issue?.message ?? 'invalid'}`, true);
    }
    const { reply, handoff, buttons, list, media, quote } = parsed.data;
    const choice = buttons ? { kind: 'buttons' as const, buttons } : list ? { kind: 'list' as const, list } : null;
    const out: AgentOutput = { reply, handoff: handoff ?? false };
    if (choice) out.choice = choice;
    if (media) out.media = media;
    if (quote) out.quote = true;
    return out;
  }

  /** Closes the dispatcher when this agent made its own. */
  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }
}
