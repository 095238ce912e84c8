import { now, wamid } from '../support/webhooks.ts';

/** An image message with a caption, as Meta sends it. */
export function imageMessage(from: string, caption: string) {
  return { from, id: wamid(), timestamp: now(), type: 'image', image: { id: 'media' + wamid().slice(6), mime_type: 'image/jpeg', sha256: 'x', caption } };
}

/** A reaction to another message: stored, needs no answer. */
export function reactionMessage(from: string, toWamid: string, emoji = '👍') {
  return { from, id: wamid(), timestamp: now(), type: 'reaction', reaction: { message_id: toWamid, emoji } };
}

/** A message echo: what the business sent from its own WhatsApp app (field smb_message_echoes). */
export function echoValue(phoneNumberId: string, to: string, body: string) {
  return {
    messaging_product: 'whatsapp',
    metadata: { display_phone_number: '15550100', phone_number_id: phoneNumberId },
    message_echoes: [{ from: '15550100', to, id: wamid(), timestamp: now(), type: 'text', text: { body } }],
  };
}
