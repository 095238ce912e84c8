import { isRowId } from '../shared/ids.ts';
import { AuditLog, CLI_ACTOR } from '../tenancy/auditLog.ts';
import { purgeTenant } from '../tenancy/removal.ts';
import { TenantLifecycle } from '../tenancy/tenantLifecycle.ts';
import type { Config } from '../config/config.ts';
import type { Db } from '../db/db.ts';
import { optionalString, parseFlags, requiredString } from './args.ts';
import { provisioningConfig } from './config.ts';
import { withDatabase } from './database.ts';
import { UsageError } from './errors.ts';
import { note, printJson } from './output.ts';
import { provisioning, provisioningCall } from './provisioning.ts';

export const TENANT_LIST_HELP = `Usage: wagate tenant list [--search S] [--disabled | --active]

Prints every tenant as a JSON array, newest first, with this month's usage:
id, name, disabled, retentionDays, channels, usage {month, count, limit}.

  --search S   digits: the tenant with that id; else a fragment of the name
  --disabled   only disabled tenants
  --active     only tenants that are not disabled
  --help       this text`;

export const TENANT_DISABLE_HELP = `Usage: wagate tenant disable --id ID

Disables a tenant and prints it as JSON. Its webhooks are still stored and
acknowledged, but nothing is answered (disposition tenant_disabled); its keys
answer 403 tenant_disabled and its dashboard sessions end, on every running
gateway within a second. 'wagate tenant enable' undoes it.

  --id ID   the tenant's id
  --help    this text`;

export const TENANT_ENABLE_HELP = `Usage: wagate tenant enable --id ID

Enables a disabled tenant and prints it as JSON: new messages are answered
again and its keys work. Messages that came while it was disabled keep their
tenant_disabled disposition.

  --id ID   the tenant's id
  --help    this text`;

export const TENANT_DELETE_HELP = `Usage: wagate tenant delete --id ID --yes

Deletes a tenant and every row of it: messages, conversations, contacts,
channels, keys, sessions and usage. Its numbers stop routing and its keys
stop working at once; the rows are then removed in batches of 1,000 (short
transactions: other tenants are never held up). There is no undo, hence --yes.
The audit log keeps the record of the deletion.

  --id ID   the tenant's id
  --yes     confirm
  --help    this text`;

const HELP = { list: TENANT_LIST_HELP, disable: TENANT_DISABLE_HELP, enable: TENANT_ENABLE_HELP, delete: TENANT_DELETE_HELP };

function idFlag(args: string[], command: keyof typeof HELP, extra: Record<string, { type: 'boolean' }> = {}) {
  const name = `wagate tenant ${command}`;
  const flags = parseFlags(name, args, { id: { type: 'string' }, ...extra });
  if (flags.help) return null;
  const id = requiredString(flags, 'id', name);
  if (!isRowId(id)) throw new UsageError(`--id must be a tenant id (digits), got ${JSON.stringify(id)}`, name);
  return { id, flags, name };
}

function withLifecycle<T>(fn: (l: TenantLifecycle, db: Db, config: Config) => Promise<T>): Promise<T> {
  const config = provisioningConfig();
  return withDatabase(config, ({ db }) => fn(new TenantLifecycle(db, provisioning(db, config, Buffer.alloc(0)), new AuditLog(db)), db, config));
}

/** `wagate tenant list`. */
export async function runTenantList(args: string[]): Promise<void> {
  const command = 'wagate tenant list';
  const flags = parseFlags(command, args, { search: { type: 'string' }, disabled: { type: 'boolean' }, active: { type: 'boolean' } });
  if (flags.help) return void process.stdout.write(TENANT_LIST_HELP + '\n');
  if (flags.disabled && flags.active) throw new UsageError('give --disabled or --active, not both', command);
  const state = flags.disabled ? 'disabled' : flags.active ? 'active' : undefined;
  const all = await withLifecycle(async (l) => {
    const out = [];
    let beforeId: string | null = null;
    for (;;) {
      const page = await l.list({ search: optionalString(flags, 'search'), state, beforeId, limit: 500 });
      out.push(...page.items);
      if (!page.more) return out;
      beforeId = page.items[page.items.length - 1].id;
    }
  });
  printJson(all);
}

/** `wagate tenant disable` and `wagate tenant enable`. */
async function runSetDisabled(args: string[], disabled: boolean): Promise<void> {
  const cmd = disabled ? 'disable' : 'enable';
  const parsed = idFlag(args, cmd);
  if (!parsed) return void process.stdout.write(HELP[cmd] + '\n');
  const { id } = parsed;
  const tenant = await withLifecycle((l) =>
    provisioningCall(() => (disabled ? l.disable(id, CLI_ACTOR) : l.enable(id, CLI_ACTOR)), (e) => (e.code === 'not_found' ? `tenant ${id} not found` : e.message)),
  );
  printJson(tenant);
  note(`wagate: tenant ${id} ${disabled ? 'disabled' : 'enabled'}`);
}

export const runTenantDisable = (args: string[]) => runSetDisabled(args, true);
export const runTenantEnable = (args: string[]) => runSetDisabled(args, false);

/** `wagate tenant delete`: marks the tenant, then removes its rows in batches here (a gateway's housekeeping would finish it too). */
export async function runTenantDelete(args: string[]): Promise<void> {
  const parsed = idFlag(args, 'delete', { yes: { type: 'boolean' } });
  if (!parsed) return void process.stdout.write(TENANT_DELETE_HELP + '\n');
  const { id, flags, name } = parsed;
  if (!flags.yes) throw new UsageError(`deleting tenant ${id} cannot be undone: add --yes`, name);
  const result = await withLifecycle(async (l, db) => {
    const t = await provisioningCall(() => l.requestDeletion(id, CLI_ACTOR), (e) => (e.code === 'not_found' ? `tenant ${id} not found` : e.message));
    note(`wagate: tenant ${id} (${t.name}) no longer routes; removing its rows…`);
    return purgeTenant(db, id);
  });
  printJson({ id, deleted: result.done, rows: result.rows });
  note(`wagate: tenant ${id} deleted (${result.rows} rows)`);
}
