import type { Db } from '../db/db.ts';
import { CLAIM_QUOTA_NOTICE } from './outbox.sql.ts';
import type { TenantDirectory } from '../tenancy/tenantSettings.ts';

/** Tenants remembered at most before the memory of sent notices starts over (the statement still decides). */
const REMEMBERED = 10_000;

/**
 * The monthly quota notice: whichever found the limit reached first (ingest
 * or a reply commit), the notice goes out once a month per tenant. The
 * statement decides; this process remembers what it already asked, to spare
 * the statement.
 */
export class QuotaNotices {
  private readonly asked = new Set<string>();

  constructor(
    private readonly db: Db,
    private readonly tenants: TenantDirectory,
  ) {}

  /** The notice text when this month's notice is to go out now (claimed for it), else null. */
  async due(tenantId: string): Promise<string | null> {
    const key = `${tenantId}:${new Date().toISOString().slice(0, 7)}`;
    if (this.asked.has(key)) return null;
    const tenant = await this.tenants.get(tenantId);
    const notice = tenant.agent.quotaNotice;
    if (!notice) return null;
    this.asked.add(key);
    if (this.asked.size > REMEMBERED) this.asked.clear();
    const claimed = await this.db.query(CLAIM_QUOTA_NOTICE, [tenantId]);
    return claimed.length > 0 ? notice : null;
  }
}
