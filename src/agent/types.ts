import type { AgentConfig } from '../tenancy/agentConfig.ts';
import type { InteractiveChoice } from './interactive.ts';
import type { MediaReply } from './mediaReply.ts';

/** One message as the agent sees it: customer → user; agent and operator → assistant. */
export interface AgentMessage {
  role: 'user' | 'assistant';
  /** Text, or the short text form of media (`[image] caption`). */
  content: string;
  /** Images for a model that takes them (agent field `vision`): JPEG data URLs, customer messages of the turn only. */
  images?: string[];
}

/** Everything an agent needs for one turn. Nothing here is shared between calls. */
export interface AgentInput {
  tenantId: string;
  conversationId: string;
  /** The tenant's agent configuration, defaults applied. */
  config: AgentConfig;
  /** The tenant's own model key (openai) or signing secret (http), decrypted; null when not set. */
  apiKey: string | null;
  secret: string | null;
  contact: { waId: string | null; userId: string | null; name: string | null };
  /** The conversation before this turn, oldest first, at most `config.historyLength`. */
  history: AgentMessage[];
  /** The customer messages this turn answers, oldest first; each becomes its own user message. */
  turn: AgentMessage[];
  /** Aborted when the turn is restarted (coalescing), paused or timed out. */
  signal: AbortSignal;
  /** The tenant's tools for this turn (docs/tools.md); absent or null: none. */
  tools?: ToolSession | null;
}

/** A function offered to the model, in the chat-completions `tools` shape. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description: string; parameters: Record<string, unknown> };
}

/** The tenant's tools as one turn may call them (src/agent/tools/toolCaller.ts). */
export interface ToolSession {
  /** The enabled tools, as offered to the model. */
  readonly definitions: readonly ToolDefinition[];
  /** Whether the tenant has an enabled tool of this name. */
  has(name: string): boolean;
  /**
   * Runs (or reuses, docs/tools.md) one call the model asked for, recorded
   * before it resolves; resolves to the content of the tool message for the
   * model (the endpoint's answer, or a JSON error the model can read).
   */
  call(name: string, rawArguments: string, signal: AbortSignal): Promise<string>;
}

export interface AgentOutput {
  /** The answer; null or empty when the agent chose not to answer. */
  reply: string | null;
  /** The agent asks for a human: the conversation is paused. */
  handoff: boolean;
  /** Reply buttons or a list offered with the reply (docs/templates.md). */
  choice?: InteractiveChoice | null;
  /** An image or document sent with the reply as its caption. */
  media?: MediaReply | null;
  /** The reply quotes the customer's last message of the turn (`context.message_id`). */
  quote?: boolean;
}

/** A provider: openai, http or demo. */
export interface Agent {
  run(input: AgentInput): Promise<AgentOutput>;
}

/** Raised by a provider for a failed call; `retryable` tells the caller whether to try again. */
export class AgentError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retryable: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AgentError';
  }
}
