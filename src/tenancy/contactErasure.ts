import type { Db } from '../db/db.ts';
import { notFound } from '../shared/errors.ts';
import type { Actor, AuditLog } from './auditLog.ts';
import { ERASURE_LAST, ERASURE_MESSAGES, ERASURE_TARGETS } from './contactErasure.sql.ts';
import { REMOVAL_BATCH } from './removal.ts';

/** What an erasure removed. */
export interface ErasureResult {
  id: string;
  contacts: number;
  conversations: string[];
  messages: number;
}

/**
 * Erases a customer as a business must on request: the contact, the same
 * customer's contact rows on the tenant's other numbers, their conversations
 * and every message, in batches (short transactions), the rows that tie them
 * together last. Usage counts stay: they are per tenant and month, not
 * about anyone. `tenantId` limits it to that tenant's contacts (null: the
 * admin key, any tenant); another tenant's contact is 404.
 */
export async function eraseContact(db: Db, audit: AuditLog, contactId: string, tenantId: string | null, actor: Actor, batchSize = REMOVAL_BATCH): Promise<ErasureResult> {
  const targets = await db.query<{ id: string; tenant_id: string }>(ERASURE_TARGETS, [contactId, tenantId]);
  if (targets.length === 0) throw notFound('contact');
  const ids = targets.map((t) => t.id);
  let messages = 0;
  for (;;) {
    const [r] = await db.query<{ n: number }>(ERASURE_MESSAGES, [ids, batchSize]);
    messages += r.n;
    if (r.n < batchSize) break;
  }
  return db.transaction(async (tx) => {
    const [r] = await tx.query<{ messages: number; conversations: string[]; contacts: number }>(ERASURE_LAST, [ids]);
    const result = { id: contactId, contacts: r.contacts, conversations: r.conversations, messages: messages + r.messages };
    // Counts only: nothing in the log says who the customer was.
    await audit.record(actor, { tenantId: targets[0].tenant_id, action: 'contact.erased', targetType: 'contact', targetId: contactId, detail: { contacts: result.contacts, conversations: result.conversations.length, messages: result.messages } }, tx);
    return result;
  });
}
