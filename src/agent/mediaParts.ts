import type { AgentMessage } from './types.ts';

/** A chat message's content: a string, or OpenAI's content parts (text and images). */
export type ChatContent = string | ({ type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string; detail: 'auto' } })[];

/**
 * The content of a customer message in a chat-completions request: plain
 * text, or, when the message carries images (a tenant whose model takes
 * them, docs/media.md), its text form followed by one `image_url` part per
 * image, as OpenAI-compatible vision models take them.
 */
export function userContent(m: AgentMessage): ChatContent {
  if (!m.images || m.images.length === 0) return m.content;
  return [{ type: 'text', text: m.content }, ...m.images.map((url) => ({ type: 'image_url' as const, image_url: { url, detail: 'auto' as const } }))];
}
