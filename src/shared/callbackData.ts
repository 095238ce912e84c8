import { isRowId } from './ids.ts';

// What wagate puts in biz_opaque_callback_data: its outbound message id,
// behind a prefix so another tool's data on the same number is not mistaken for ours.
const PREFIX = 'wg:';

/**
 * The `biz_opaque_callback_data` of an outbound message: Meta echoes it in
 * the message's status webhooks, so a send whose result a crash left unknown
 * can be settled from them. Written by delivery, read by the webhook.
 */
export const callbackDataFor = (messageId: string): string => PREFIX + messageId;

/** The outbound message id a status's callback data names, or null when it is not ours. */
export function messageIdFromCallbackData(data: string | null | undefined): string | null {
  if (!data || !data.startsWith(PREFIX)) return null;
  const id = data.slice(PREFIX.length);
  return isRowId(id) ? id : null;
}
