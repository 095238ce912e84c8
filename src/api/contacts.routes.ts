import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Db } from '../db/db.ts';
import type { AuditLog } from '../tenancy/auditLog.ts';
import { eraseContact } from '../tenancy/contactErasure.ts';
import { actorOf } from './actor.ts';
import type { Authenticator } from './auth.ts';
import { handle, route } from './routeSpec.ts';
import { errorBody, idString } from './schemas.ts';

export const eraseContactRoute = route({
  method: 'DELETE',
  url: '/api/contacts/:contactId',
  operationId: 'eraseContact',
  tag: 'data protection',
  summary: 'Erase a contact and everything about them: their conversations and messages, on every number of the tenant',
  description:
    "The id is a conversation's contact.id. What the tenant must do when a customer asks to be forgotten: afterwards no row names or quotes the customer. " +
    'Usage counts stay (they are per month, not per person); the audit log records the erasure with counts only. A customer who writes again starts afresh.',
  auth: 'tenant',
  resource: 'contact',
  params: z.strictObject({ contactId: idString }),
  responses: {
    200: {
      description: 'what was erased',
      schema: z.object({ id: z.string(), contacts: z.number().int(), conversations: z.array(z.string()), messages: z.number().int() }),
    },
    401: { description: 'no key', schema: errorBody },
    404: { description: "no such contact (or another tenant's)", schema: errorBody },
  },
});

/** Erasure on request (docs/security.md, "Erasing a customer"). */
export async function contactRoutes(app: FastifyInstance, { db, audit, auth, onErased }: { db: Db; audit: AuditLog; auth: Authenticator; onErased?: () => void }): Promise<void> {
  handle(app, eraseContactRoute, (req) => auth.principal(req), async (p, { params }) => {
    const result = await eraseContact(db, audit, params.contactId, p.kind === 'admin' ? null : p.tenantId, actorOf(p));
    // Their media files go with housekeeping's media sweep, started now.
    onErased?.();
    return result;
  });
}
