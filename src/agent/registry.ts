import type { Dispatcher } from 'undici';
import type { Config } from '../config/config.ts';
import type { AgentConfig } from '../tenancy/agentConfig.ts';
import { DemoAgent } from './demo.ts';
import { HttpAgent } from './http.ts';
import { OpenAiAgent } from './openai.ts';
import { createAgentDispatcher } from './postJson.ts';
import { AgentError, type Agent } from './types.ts';

/** The providers of the process, one instance each, sharing one keep-alive dispatcher. */
export interface AgentRegistry {
  /** The provider named by a tenant's `config.provider`. */
  agentFor(provider: AgentConfig['provider']): Agent;
  /** Closes the shared connections: calls still running finish, new ones fail with `agent_closed`. */
  close(): Promise<void>;
}

/**
 * Builds the providers once at start. They hold no tenant or request state:
 * everything tenant-specific (URL, key, secret, model) comes with each call's
 * input, so one instance of each serves every tenant at once.
 */
export function createAgentRegistry(config: Pick<Config, 'openai'>, opts: { dispatcher?: Dispatcher } = {}): AgentRegistry {
  const dispatcher = opts.dispatcher ?? createAgentDispatcher();
  const agents: Record<AgentConfig['provider'], Agent> = {
    openai: new OpenAiAgent(config.openai, { dispatcher }),
    http: new HttpAgent({ dispatcher }),
    demo: new DemoAgent(),
  };
  let closing: Promise<void> | null = null;
  return {
    agentFor(provider) {
      const agent = Object.hasOwn(agents, provider) ? agents[provider] : undefined;
      if (!agent) throw new AgentError('agent_unknown_provider', `no agent provider named ${JSON.stringify(provider)}`, false);
      return agent;
    },
    close() {
      // A dispatcher passed in belongs to the caller, who closes it.
      closing ??= opts.dispatcher ? Promise.resolve() : dispatcher.close();
      return closing;
    },
  };
}
