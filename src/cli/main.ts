import { readFile } from 'node:fs/promises';
import { ConfigError } from '../config/config.ts';
import { loadEnv } from '../config/env.ts';
import { asUsageError } from './args.ts';
import { CHANNEL_ADD_HELP, runChannelAdd } from './channelAdd.ts';
import { CHANNEL_LIST_HELP, CHANNEL_REMOVE_HELP, CHANNEL_ROTATE_TOKEN_HELP, runChannelList, runChannelRemove, runChannelRotateToken } from './channelCommands.ts';
import { UsageError } from './errors.ts';
import { KEY_CREATE_HELP, runKeyCreate } from './keyCreate.ts';
import { KEY_LIST_HELP, runKeyList } from './keyList.ts';
import { KEY_REVOKE_HELP, runKeyRevoke } from './keyRevoke.ts';
import { MIGRATE_HELP, runMigrate } from './migrateCommand.ts';
import { runTemplatesSync, TEMPLATES_SYNC_HELP } from './templatesSync.ts';
import { describeStartupFailure, type StartupSettings } from './startupErrors.ts';
import { runSecretKeyRotate, SECRET_KEY_ROTATE_HELP } from './secretKeyRotate.ts';
import {
  runTenantDelete,
  runTenantDisable,
  runTenantEnable,
  runTenantList,
  TENANT_DELETE_HELP,
  TENANT_DISABLE_HELP,
  TENANT_ENABLE_HELP,
  TENANT_LIST_HELP,
} from './tenantCommands.ts';
import { runTenantCreate, TENANT_CREATE_HELP } from './tenantCreate.ts';

interface Command {
  /** What `wagate --help` shows. */
  summary: string;
  /** The first line of the command's own help, for a group's help (`wagate tenant --help`). */
  usage?: string;
  run(args: string[]): Promise<void>;
}

const firstLine = (help: string) => help.split('\n')[0].replace(/^Usage: /, '');

// start and bench load the whole gateway or the benchmark: imported only when asked for,
// so the provisioning commands start fast.
const COMMANDS: Record<string, Command> = {
  start: {
    summary: 'run the gateway (--sandbox: embedded database, demo tenant, WhatsApp simulator)',
    run: async (args) => (await import('./start.ts')).runStart(args),
  },
  migrate: { summary: 'apply the database migrations', usage: firstLine(MIGRATE_HELP), run: runMigrate },
  'tenant create': { summary: 'create a tenant (a business)', usage: firstLine(TENANT_CREATE_HELP), run: runTenantCreate },
  'tenant list': { summary: "list tenants with this month's usage", usage: firstLine(TENANT_LIST_HELP), run: runTenantList },
  'tenant disable': { summary: 'stop answering for a tenant (webhooks still stored)', usage: firstLine(TENANT_DISABLE_HELP), run: runTenantDisable },
  'tenant enable': { summary: 'answer for a disabled tenant again', usage: firstLine(TENANT_ENABLE_HELP), run: runTenantEnable },
  'tenant delete': { summary: 'delete a tenant and every row of it', usage: firstLine(TENANT_DELETE_HELP), run: runTenantDelete },
  'channel add': { summary: "add a WhatsApp number to a tenant", usage: firstLine(CHANNEL_ADD_HELP), run: runChannelAdd },
  'channel list': { summary: "list a tenant's channels (never a token)", usage: firstLine(CHANNEL_LIST_HELP), run: runChannelList },
  'channel rotate-token': { summary: "replace a channel's access token", usage: firstLine(CHANNEL_ROTATE_TOKEN_HELP), run: runChannelRotateToken },
  'channel remove': { summary: 'remove a channel and its conversations', usage: firstLine(CHANNEL_REMOVE_HELP), run: runChannelRemove },
  'templates sync': { summary: "sync channels' message templates from WhatsApp", usage: firstLine(TEMPLATES_SYNC_HELP), run: runTemplatesSync },
  'key create': { summary: 'create a tenant API key (shown once)', usage: firstLine(KEY_CREATE_HELP), run: runKeyCreate },
  'key list': { summary: "list a tenant's API keys (never the keys)", usage: firstLine(KEY_LIST_HELP), run: runKeyList },
  'key revoke': { summary: 'revoke an API key everywhere within a second', usage: firstLine(KEY_REVOKE_HELP), run: runKeyRevoke },
  'secret-key rotate': {
    summary: 're-encrypt every stored secret with a new WAGATE_SECRET_KEY',
    usage: firstLine(SECRET_KEY_ROTATE_HELP),
    run: runSecretKeyRotate,
  },
  bench: {
    summary: 'run the benchmark against the old pipeline and print the table',
    run: async (args) => (await import('./bench.ts')).runBench(args),
  },
};

const HELP = `Usage: wagate <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(22)} ${c.summary}`)
  .join('\n')}

Run 'wagate <command> --help' for a command's options.
Configuration comes from environment variables (and a .env file in the
working directory). The provisioning commands use DATABASE_URL, or the
embedded PostgreSQL in WAGATE_DATA_DIR (default ./data), and WAGATE_SECRET_KEY.

  --help      this text
  --version   the version of wagate`;

/**
 * The `wagate` command line. Returns when a command is done (or, for
 * `start`, running); a failure prints one line on stderr and exits the
 * process with 1, a wrong call with 2.
 */
export async function main(argv: string[]): Promise<void> {
  const ran = { command: 'wagate' };
  // Until the command is running, an error thrown outside its promise chain (an
  // emitter's 'error', a forgotten rejection) is a start-up failure like any other.
  const crashed = (err: unknown) => process.exit(report(err, ran.command));
  process.on('uncaughtException', crashed);
  process.on('unhandledRejection', crashed);
  try {
    await dispatch(argv, ran);
  } catch (err) {
    // Exit now rather than through process.exitCode, so that nothing still pending keeps
    // the process alive. Whatever the command opened is closed by now.
    process.exit(report(err, ran.command));
  } finally {
    process.off('uncaughtException', crashed);
    process.off('unhandledRejection', crashed);
  }
  // A command that reports its own failure (bench's options) sets process.exitCode; keep it, for the same reason.
  const code = Number(process.exitCode ?? 0);
  if (code !== 0) process.exit(code);
}

/** Finds the command in argv and runs it; `ran.command` names it for error hints. */
async function dispatch(argv: string[], ran: { command: string }): Promise<void> {
  const [first, second] = argv;
  if (first === undefined) throw new UsageError('no command given');
  if (first === '--help' || first === '-h') return out(HELP);
  if (first === '--version') return out(await version());
  if (first.startsWith('-')) throw new UsageError(`unknown option '${first}'`);
  const single = COMMANDS[first];
  if (single) {
    ran.command = `wagate ${first}`;
    return single.run(argv.slice(1));
  }
  const group = Object.keys(COMMANDS).filter((name) => name.startsWith(first + ' '));
  if (group.length === 0) throw new UsageError(`unknown command '${first}'`);
  ran.command = `wagate ${first}`;
  if (second === '--help' || second === '-h') return out(groupHelp(group));
  if (second === undefined || second.startsWith('-')) {
    throw new UsageError(`${first}: missing subcommand (${group.map((g) => g.split(' ')[1]).join(', ')})`, ran.command);
  }
  const sub = COMMANDS[`${first} ${second}`];
  if (!sub) throw new UsageError(`unknown command '${first} ${second}'`, ran.command);
  ran.command = `wagate ${first} ${second}`;
  return sub.run(argv.slice(2));
}

function groupHelp(names: string[]): string {
  return ['Usage:', ...names.map((n) => `  ${COMMANDS[n].usage ?? `wagate ${n}`}`), '', "Run 'wagate <command> <subcommand> --help' for its options."].join('\n');
}

function out(text: string): void {
  process.stdout.write(text + '\n');
}

async function version(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Prints what went wrong, one line per problem (a configuration with several
 * invalid variables names each of them), and returns the exit code.
 */
function report(err: unknown, command: string): number {
  const usage = err instanceof UsageError ? err : asUsageError(err, command);
  if (usage) {
    process.stderr.write(`wagate: ${oneLine(usage.message)} (see '${usage.command} --help')\n`);
    return 2;
  }
  if (err instanceof ConfigError) {
    for (const problem of err.problems) process.stderr.write(`wagate: ${oneLine(problem)}\n`);
    return 1;
  }
  // Common start-up failures get a line naming the setting to change; CommandError and the
  // like carry a message made for the user; anything else is unexpected, and its message
  // is still the most useful single line.
  const known = describeStartupFailure(err, startupSettings());
  const message = known ?? (err instanceof Error ? err.message || err.name : err == null ? 'failed without a reason' : String(err));
  process.stderr.write(`wagate: ${oneLine(message)}\n`);
  return 1;
}

/** The settings a failure is explained with, read leniently (an unreadable .env leaves the process environment). */
function startupSettings(): StartupSettings {
  let env: NodeJS.ProcessEnv;
  try {
    env = loadEnv();
  } catch {
    env = process.env;
  }
  return { databaseUrlSet: Boolean(env.DATABASE_URL), directUrlSet: Boolean(env.DATABASE_DIRECT_URL), dataDir: env.WAGATE_DATA_DIR || './data', host: env.HOST || '127.0.0.1' };
}

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();
