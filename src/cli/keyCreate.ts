import { parseFlags, tenantIdFlag } from './args.ts';
import { provisioningConfig } from './config.ts';
import { AuditLog, CLI_ACTOR } from '../tenancy/auditLog.ts';
import { withDatabase } from './database.ts';
import { note, printJson } from './output.ts';
import { provisioning, provisioningCall } from './provisioning.ts';

const COMMAND = 'wagate key create';

export const KEY_CREATE_HELP = `Usage: wagate key create --tenant ID

Creates an API key for a tenant and prints it as JSON: {"id","key"}. The key
is shown this once; only its hash is stored. It reaches its own tenant only
(Authorization: Bearer <key> on /api and the dashboard).

  --tenant ID   the tenant's id
  --help        this text`;

/** `wagate key create`. */
export async function runKeyCreate(args: string[]): Promise<void> {
  const flags = parseFlags(COMMAND, args, { tenant: { type: 'string' } });
  if (flags.help) {
    process.stdout.write(KEY_CREATE_HELP + '\n');
    return;
  }
  const tenantId = tenantIdFlag(flags, COMMAND);
  const config = provisioningConfig();
  const key = await withDatabase(config, async ({ db }) => {
    const created = await provisioningCall(
      () => provisioning(db, config, Buffer.alloc(0)).createApiKey(tenantId),
      (e) => (e.code === 'not_found' ? `tenant ${tenantId} not found` : e.message),
    );
    await new AuditLog(db).record(CLI_ACTOR, { tenantId, action: 'api_key.created', targetType: 'api_key', targetId: created.id });
    return created;
  });
  printJson(key);
  note('wagate: store this key now: it is not shown again');
}
