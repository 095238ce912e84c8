import { AuditLog, CLI_ACTOR } from '../tenancy/auditLog.ts';
import { tenantCreateInput } from '../tenancy/provision.ts';
import { optionalString, optionalWholeNumber, parseFlags, requiredString, validateInput } from './args.ts';
import { provisioningConfig } from './config.ts';
import { withDatabase } from './database.ts';
import { UsageError } from './errors.ts';
import { printJson } from './output.ts';
import { provisioning, provisioningCall } from './provisioning.ts';
import { resolveSecretKey } from './secretKey.ts';

const COMMAND = 'wagate tenant create';

export const TENANT_CREATE_HELP = `Usage: wagate tenant create --name NAME [--limit N] [--limits-json JSON] [--agent-json JSON]

Creates a tenant (a business) and prints it as JSON.

  --name NAME         the tenant's name
  --limit N           agent answers per calendar month (UTC); left out: unlimited
  --limits-json JSON  what only the operator sets, e.g.
                      '{"allowedModels":["gpt-4o-mini","gpt-4o"],"maxHistoryLength":50,"maxSystemPromptChars":8000}'
                      (left out: WAGATE_ALLOWED_MODELS, 50 and 8000)
  --agent-json JSON   the agent configuration, as the API takes it, e.g.
                      '{"provider":"openai","model":"gpt-4o-mini","systemPrompt":"…"}'
                      (an apiKey or secret in it is stored encrypted with WAGATE_SECRET_KEY)
  --help              this text`;

/** `wagate tenant create`. */
export async function runTenantCreate(args: string[]): Promise<void> {
  const flags = parseFlags(COMMAND, args, { name: { type: 'string' }, limit: { type: 'string' }, 'limits-json': { type: 'string' }, 'agent-json': { type: 'string' } });
  if (flags.help) {
    process.stdout.write(TENANT_CREATE_HELP + '\n');
    return;
  }
  const input = validateInput(
    tenantCreateInput,
    {
      name: requiredString(flags, 'name', COMMAND),
      monthlyMessageLimit: optionalWholeNumber(flags, 'limit', COMMAND),
      limits: jsonObject('limits-json', optionalString(flags, 'limits-json')),
      agent: jsonObject('agent-json', optionalString(flags, 'agent-json')),
    },
    { name: '--name', monthlyMessageLimit: '--limit', limits: '--limits-json', agent: '--agent-json' },
    COMMAND,
  );
  const config = provisioningConfig();
  const hasSecret = input.agent?.apiKey != null || input.agent?.secret != null;
  const key = hasSecret ? await resolveSecretKey(config, "the agent's apiKey and secret") : Buffer.alloc(0);
  const tenant = await withDatabase(config, async ({ db }) => {
    const t = await provisioningCall(() => provisioning(db, config, key).createTenant(input));
    await new AuditLog(db).record(CLI_ACTOR, { tenantId: t.id, action: 'tenant.created', targetType: 'tenant', targetId: t.id });
    return t;
  });
  printJson(tenant);
}

function jsonObject(flag: string, text: string | undefined): unknown {
  if (text === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`--${flag}: not valid JSON (${(err as Error).message})`, COMMAND);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`--${flag}: must be a JSON object`, COMMAND);
  return value;
}
