import type { AgentConfig } from '../tenancy/agentConfig.ts';

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
}

export interface AgentOutput {
  /** The answer; null or empty when the agent chose not to answer. */
  reply: string | null;
  /** The agent asks for a human: the conversation is paused. */
  handoff: boolean;
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
