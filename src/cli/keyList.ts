import { ApiKeys } from '../tenancy/apiKeys.ts';
import { parseFlags, tenantIdFlag } from './args.ts';
import { provisioningConfig } from './config.ts';
import { withDatabase } from './database.ts';
import { printJson } from './output.ts';
import { provisioningCall } from './provisioning.ts';

const COMMAND = 'wagate key list';

export const KEY_LIST_HELP = `Usage: wagate key list --tenant ID

Prints a tenant's API keys as a JSON array, newest first: id, prefix (the
key's first 8 characters), createdAt, lastUsedAt (to the minute) and
revokedAt (null while the key works). Never a key or its hash.

  --tenant ID   the tenant's id
  --help        this text`;

/** `wagate key list`. */
export async function runKeyList(args: string[]): Promise<void> {
  const flags = parseFlags(COMMAND, args, { tenant: { type: 'string' } });
  if (flags.help) {
    process.stdout.write(KEY_LIST_HELP + '\n');
    return;
  }
  const tenantId = tenantIdFlag(flags, COMMAND);
  const keys = await withDatabase(provisioningConfig(), ({ db }) =>
    provisioningCall(
      () => new ApiKeys(db).list(tenantId),
      (e) => (e.code === 'not_found' ? `tenant ${tenantId} not found` : e.message),
    ),
  );
  printJson(keys);
}
