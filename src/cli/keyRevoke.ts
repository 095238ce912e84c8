import { isRowId } from '../shared/ids.ts';
import { ApiKeys } from '../tenancy/apiKeys.ts';
import { parseFlags, requiredString } from './args.ts';
import { provisioningConfig } from './config.ts';
import { AuditLog, CLI_ACTOR } from '../tenancy/auditLog.ts';
import { withDatabase } from './database.ts';
import { UsageError } from './errors.ts';
import { note, printJson } from './output.ts';
import { provisioningCall } from './provisioning.ts';

const COMMAND = 'wagate key revoke';

export const KEY_REVOKE_HELP = `Usage: wagate key revoke --id ID

Revokes an API key and prints it as JSON (with revokedAt). Every running
gateway on the database refuses it within a second, and the dashboard
sessions opened with it end. Revoking a revoked key changes nothing.

  --id ID   the key's id (from 'wagate key list')
  --help    this text`;

/** `wagate key revoke`. */
export async function runKeyRevoke(args: string[]): Promise<void> {
  const flags = parseFlags(COMMAND, args, { id: { type: 'string' } });
  if (flags.help) {
    process.stdout.write(KEY_REVOKE_HELP + '\n');
    return;
  }
  const id = requiredString(flags, 'id', COMMAND);
  if (!isRowId(id)) throw new UsageError(`--id must be a key id (digits), got ${JSON.stringify(id)}`, COMMAND);
  const revoked = await withDatabase(provisioningConfig(), async ({ db }) => {
    const r = await provisioningCall(
      () => new ApiKeys(db).revoke(id, null),
      (e) => (e.code === 'not_found' ? `key ${id} not found` : e.message),
    );
    await new AuditLog(db).record(CLI_ACTOR, { tenantId: r.tenantId, action: 'api_key.revoked', targetType: 'api_key', targetId: r.id });
    return r;
  });
  printJson(revoked);
  note(`wagate: key ${id} revoked`);
}
