import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Db } from '../db/db.ts';
import { MEDIA_BY_ID, type MediaRow } from '../media/media.sql.ts';
import { notFound } from '../shared/errors.ts';
import type { MediaStore } from '../shared/mediaStore.ts';
import type { Authenticator } from './auth.ts';
import { handle, route } from './routeSpec.ts';
import { errorBody, idString } from './schemas.ts';
import { scopeTenant } from './scope.ts';

/** Types a browser may show in the page (images, audio, video, PDF); anything else is a download. */
const INLINE = /^(image\/(png|jpeg|gif|webp)|audio\/[a-z0-9.+-]+|video\/[a-z0-9.+-]+|application\/pdf)$/;

export const getMediaRoute = route({
  method: 'GET',
  url: '/api/media/:id',
  operationId: 'getMedia',
  tag: 'messages',
  summary: "A customer's media file: the image, voice note, document or video of a message",
  description:
    "The id is a message's `media.file.id`. The bytes as stored, with the type they really are (recognised from the bytes, not the customer's claim), " +
    '`Content-Disposition` (inline for images, audio, video and PDF; an attachment otherwise, with the file name), `X-Content-Type-Options: nosniff` ' +
    "and a Content-Security-Policy that allows no script. Another tenant's media, or media not (or no longer) stored: 404.",
  auth: 'tenant',
  resource: 'media',
  params: z.strictObject({ id: idString }),
  responses: {
    200: { description: 'the file', contentType: 'application/octet-stream', schema: z.string().describe('the bytes of the file (binary), with the Content-Type they really are') },
    401: { description: 'no key, or an unknown one', schema: errorBody },
    404: { description: "no such media, not stored (yet or any more), or another tenant's", schema: errorBody },
  },
});

/** The media route (docs/media.md, docs/api.md): a stored file, only to its own tenant. */
export async function mediaRoutes(app: FastifyInstance, { db, auth, store }: { db: Db; auth: Authenticator; store: MediaStore }): Promise<void> {
  handle(app, getMediaRoute, (req) => auth.principal(req), async (p, { params, reply }) => {
    const [row] = await db.query<MediaRow>(MEDIA_BY_ID, [params.id, scopeTenant(p, undefined)]);
    if (!row || !row.storage_key || row.message_id === null) throw notFound('media');
    const file = await store.open(row.storage_key);
    if (!file) throw notFound('media');
    const mime = row.mime ?? 'application/octet-stream';
    const inline = INLINE.test(mime);
    const name = row.filename ?? `${row.kind}-${row.id}${extensionOf(mime)}`;
    reply
      .header('content-type', inline ? mime : 'application/octet-stream')
      .header('content-length', String(file.size))
      .header('content-disposition', `${inline ? 'inline' : 'attachment'}; filename="${asciiName(name)}"; filename*=UTF-8''${encodeURIComponent(name)}`)
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; img-src 'self'; media-src 'self'; sandbox; frame-ancestors 'none'")
      .header('cache-control', 'private, no-store');
    return reply.send(file.body);
  });
}

/** A file name as a quoted-string holds it: ASCII, no quotes, backslashes or controls. */
function asciiName(name: string): string {
  return name.replace(/[^\x20-\x7e]|["\\]/g, '_').slice(0, 200) || 'file';
}

function extensionOf(mime: string): string {
  const m: Record<string, string> = { 'image/jpeg': '.jpg', 'image/png': '.png', 'image/webp': '.webp', 'audio/ogg': '.ogg', 'audio/mpeg': '.mp3', 'audio/mp4': '.m4a', 'audio/wav': '.wav', 'video/mp4': '.mp4', 'application/pdf': '.pdf' };
  return m[mime] ?? '';
}
