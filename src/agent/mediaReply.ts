import { z } from 'zod';

/** An image or document an agent answers with, by URL (fetched under the tenant's egress policy, then uploaded). */
export interface MediaReply {
  type: 'image' | 'document';
  url: string;
  /** The document's file name as the customer sees it. */
  filename?: string;
}

/** The HTTP agent's `media` field and the tool's arguments. */
export const mediaReplySchema = z.object({
  type: z.enum(['image', 'document']),
  url: z.string().min(1).max(2048),
  filename: z.string().min(1).max(240).optional(),
});

/** The tool that answers with an image or a document (OpenAI-compatible function calling). */
export const REPLY_WITH_MEDIA_TOOL = {
  type: 'function',
  function: {
    name: 'reply_with_media',
    description: 'Answer with an image or a document found at an https URL, with a short text as its caption.',
    parameters: {
      type: 'object',
      properties: {
        text: { type: 'string', description: 'The caption, at most 1024 characters.' },
        type: { type: 'string', enum: ['image', 'document'] },
        url: { type: 'string', description: 'Where the file is (https).' },
        filename: { type: 'string', description: 'For a document: the file name the customer sees.' },
        quote: { type: 'boolean', description: "true: the answer quotes the customer's last message." },
      },
      required: ['type', 'url'],
    },
  },
} as const;

const mediaArgs = mediaReplySchema.extend({ text: z.string().max(4096).optional(), quote: z.boolean().optional() });

/** Reads a reply_with_media call's arguments, or null when they are not of its shape. */
export function mediaFromToolCall(name: string, args: string | null | undefined): { text: string; media: MediaReply; quote: boolean } | null {
  if (name !== REPLY_WITH_MEDIA_TOOL.function.name) return null;
  let json: unknown;
  try {
    json = JSON.parse(args ?? '');
  } catch {
    return null;
  }
  const p = mediaArgs.safeParse(json);
  if (!p.success) return null;
  const { text, quote, ...media } = p.data;
  return { text: text ?? '', media, quote: quote === true };
}
