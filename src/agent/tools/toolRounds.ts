import type { ToolSession } from '../types.ts';

/** A message of a tool round, as chat completions takes it: the assistant's calls, then one `tool` message per call. */
export type ToolRoundMessage =
  | { role: 'assistant'; content: unknown; tool_calls: { id: string; type: 'function'; function: { name: string; arguments: string } }[] }
  | { role: 'tool'; tool_call_id: string; content: string };

/** A tool call as the model's answer carries it. */
export interface ModelToolCall {
  id?: string | null;
  function: { name: string; arguments?: string | null };
}

/**
 * One round: the assistant message that asked for the calls, then each call
 * run in order (each recorded before its result is given back) and answered
 * by its `tool` message. A call without an id (some compatible servers) gets
 * one, so that its answer can name it.
 */
export async function runToolCalls(tools: ToolSession, content: unknown, calls: readonly ModelToolCall[], signal: AbortSignal): Promise<ToolRoundMessage[]> {
  const named = calls.map((c, i) => ({ id: c.id || `call_${i}`, type: 'function' as const, function: { name: c.function.name, arguments: c.function.arguments ?? '{}' } }));
  const out: ToolRoundMessage[] = [{ role: 'assistant', content, tool_calls: named }];
  for (const c of named) {
    out.push({ role: 'tool', tool_call_id: c.id, content: await tools.call(c.function.name, c.function.arguments, signal) });
  }
  return out;
}
