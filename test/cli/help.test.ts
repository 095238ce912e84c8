import { readFile, writeFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliWorkDir, errorLine, runCli } from './runCli.ts';

// Each test runs its own child process and touches no database: they run concurrently.
describe.concurrent('wagate: help and wrong calls', () => {
  let cwd: string;
  beforeAll(async () => {
    cwd = await cliWorkDir();
  });
  const run = (...args: string[]) => runCli(args, { cwd });

  it('lists every command in wagate --help', async () => {
    const r = await run('--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const c of ['start', 'migrate', 'tenant create', 'channel add', 'key create', 'key list', 'key revoke', 'secret-key rotate', 'bench']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it.each([
    [['start', '--help'], 'Usage: wagate start [--sandbox]'],
    [['migrate', '--help'], 'Usage: wagate migrate'],
    [['tenant', 'create', '--help'], 'Usage: wagate tenant create --name NAME'],
    [['channel', 'add', '--help'], 'Usage: wagate channel add --tenant ID --phone-number-id P'],
    [['key', 'create', '--help'], 'Usage: wagate key create --tenant ID'],
    [['key', 'list', '--help'], 'Usage: wagate key list --tenant ID'],
    [['key', 'revoke', '--help'], 'Usage: wagate key revoke --id ID'],
    [['secret-key', 'rotate', '--help'], 'Usage: wagate secret-key rotate --new-key-file PATH'],
    [['tenant', '--help'], 'Usage:\n  wagate tenant create'],
    [['key', '--help'], 'Usage:\n  wagate key create --tenant ID\n  wagate key list --tenant ID\n  wagate key revoke --id ID'],
  ])('prints the help of %j', async (args, start) => {
    const r = await run(...args);
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith(start)).toBe(true);
  });

  it('documents every flag of a command in its help', async () => {
    const r = await run('channel', 'add', '--help');
    for (const f of ['--tenant', '--phone-number-id', '--display-phone-number', '--access-token', '--app-secret', '--verify-token', '--messages-per-second']) {
      expect(r.stdout).toContain(f);
    }
  });

  it.each([
    [['key', 'list'], ['--tenant ID ']],
    [['key', 'revoke'], ['--id ID ']],
    [['secret-key', 'rotate'], ['--new-key-file PATH ', '--batch-size N ']],
  ])('documents every flag of %j in its help', async (command, flags) => {
    const r = await run(...command, '--help');
    for (const f of flags) expect(r.stdout).toContain(f);
  });

  it('prints the version', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    const r = await run('--version');
    expect(r).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });

  it.each([
    [[], "wagate: no command given (see 'wagate --help')"],
    [['frobnicate'], "wagate: unknown command 'frobnicate' (see 'wagate --help')"],
    [['--frobnicate'], "wagate: unknown option '--frobnicate' (see 'wagate --help')"],
    [['tenant'], "wagate: tenant: missing subcommand (create, list, disable, enable, delete) (see 'wagate tenant --help')"],
    [['tenant', 'rename'], "wagate: unknown command 'tenant rename' (see 'wagate tenant --help')"],
    [['tenant', 'create', '--nmae', 'Acme'], "wagate: unknown option '--nmae' (see 'wagate tenant create --help')"],
    [['tenant', 'create', 'Acme'], "wagate: unexpected argument 'Acme' (see 'wagate tenant create --help')"],
    [['tenant', 'create', '--name'], "wagate: option '--name <value>' argument missing (see 'wagate tenant create --help')"],
    [['tenant', 'create'], "wagate: --name is required (see 'wagate tenant create --help')"],
    [['key', 'create'], "wagate: --tenant is required (see 'wagate key create --help')"],
    [['key', 'create', '--tenant', 'acme'], 'wagate: --tenant must be a tenant id (digits), got "acme" (see \'wagate key create --help\')'],
    [['key', 'revoke'], "wagate: --id is required (see 'wagate key revoke --help')"],
    [['key', 'revoke', '--id', 'x1'], 'wagate: --id must be a key id (digits), got "x1" (see \'wagate key revoke --help\')'],
    [['key', 'list'], "wagate: --tenant is required (see 'wagate key list --help')"],
    [['secret-key', 'rotate'], "wagate: --new-key-file is required (see 'wagate secret-key rotate --help')"],
    [['secret-key', 'rotate', '--new-key-file', 'k', '--batch-size', '0'], "wagate: --batch-size must be between 1 and 10000, got 0 (see 'wagate secret-key rotate --help')"],
    [['migrate', '--force'], "wagate: unknown option '--force' (see 'wagate migrate --help')"],
    [['start', '--sandbx'], "wagate: unknown option '--sandbx' (see 'wagate start --help')"],
  ])('exits 2 with one line on stderr for %j', async (args, line) => {
    const r = await run(...args);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(line + '\n');
  });

  it('exits 1 with one line naming an invalid variable', async () => {
    const r = await runCli(['migrate'], { cwd, env: { DB_POOL_MAX: '0' } });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/^wagate: DB_POOL_MAX: must be between 1 and 1000/);
  });

  it('exits 1 with one line naming WAGATE_SECRET_KEY when it is not 32 bytes', async () => {
    const r = await runCli(['key', 'create', '--tenant', '1'], { cwd, env: { WAGATE_SECRET_KEY: 'abcd' } });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/^wagate: WAGATE_SECRET_KEY: must be 32 bytes/);
  });

  it('reads the configuration from a .env file in the working directory', async () => {
    const dir = await cliWorkDir();
    await writeFile(`${dir}/.env`, 'DB_POOL_MAX=abc\n');
    const r = await runCli(['migrate'], { cwd: dir });
    expect(r.code).toBe(1);
    expect(errorLine(r)).toMatch(/^wagate: DB_POOL_MAX: must be a whole number/);
  });
});
