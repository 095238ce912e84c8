import { z } from 'zod';
import { badRequest } from '../shared/errors.ts';

/**
 * Cursors are opaque to clients: base64url of a small JSON object. They carry
 * positions only, never anything that grants access: every page is still
 * filtered by the caller's tenant.
 */

/** Where the next page of the conversation list starts, and the snapshot the walk is pinned to. */
export const conversationCursor = z.strictObject({
  /** The last item's sort key: microseconds since the epoch (timestamptz has microseconds; JS dates do not). */
  k: z.string().regex(/^-?\d{1,19}$/),
  /** The last item's id. */
  i: z.string().regex(/^\d{1,18}$/),
  /** The first page's snapshot (pg_snapshot text). */
  s: z.string().regex(/^\d{1,20}:\d{1,20}:(\d{1,20}(,\d{1,20})*)?$/).max(6000),
  /** The first page's horizon: conversations older than it are unchanged since the snapshot. */
  h: z.string().regex(/^-?\d{1,19}$/),
});
export type ConversationCursor = z.infer<typeof conversationCursor>;

/** The last message id of a page, and the order it was walked in. */
export const messageCursor = z.strictObject({
  i: z.string().regex(/^\d{1,18}$/),
  o: z.enum(['asc', 'desc']),
});
export type MessageCursor = z.infer<typeof messageCursor>;

/** Where the next page of a list walked newest first by id starts (tenants, the audit log). */
export const idCursor = z.strictObject({ i: z.string().regex(/^\d{1,18}$/) });

export function encodeCursor(value: object): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** Decodes a cursor; anything not made by encodeCursor with this schema is a 400. */
export function decodeCursor<T extends z.ZodType>(schema: T, cursor: string): z.infer<T> {
  let json: unknown;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('not base64url');
    json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('invalid_request', 'cursor: not a cursor this API returned');
  }
  const r = schema.safeParse(json);
  if (!r.success) throw badRequest('invalid_request', 'cursor: not a cursor this API returned');
  return r.data;
}
