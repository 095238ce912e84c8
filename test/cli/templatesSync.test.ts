import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCloudApiSimulator, type CloudApiSimulator } from '../../src/sandbox/cloudApiSimulator.ts';
import { freshDatabase, sqlClient } from '../support/db.ts';
import { testTemplates } from '../templates/fixtures.ts';
import { cliWorkDir, runCli } from './runCli.ts';

const SECRET_KEY = randomBytes(32);

describe('wagate templates sync', () => {
  let cwd: string;
  let dbUrl: string;
  let client: pg.Client;
  let sim: CloudApiSimulator;
  beforeAll(async () => {
    cwd = await cliWorkDir();
    dbUrl = await freshDatabase();
    client = await sqlClient(dbUrl);
    sim = await startCloudApiSimulator({ statusDelaysMs: null });
  });
  afterAll(async () => {
    await client?.end();
    await sim?.close();
  });

  const run = (args: string[]) => runCli(args, { cwd, env: { DATABASE_URL: dbUrl, WAGATE_SECRET_KEY: SECRET_KEY.toString('hex'), WHATSAPP_API_URL: `${sim.url}/v25.0` } });

  it("channel add --waba-id, then templates sync stores every page of the account's templates", async () => {
    sim.setTemplates('5550001', testTemplates(30));
    const tenant = JSON.parse((await run(['tenant', 'create', '--name', 'Acme'])).stdout);
    const add = await run(['channel', 'add', '--tenant', tenant.id, '--phone-number-id', 'pn-cli-1', '--display-phone-number', '+1 555', '--access-token', 'tok', '--waba-id', '5550001']);
    expect(add.code, add.stderr).toBe(0);
    const channel = JSON.parse(add.stdout);
    expect(channel.wabaId).toBe('5550001');
    const r = await run(['templates', 'sync', '--tenant', tenant.id]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([{ channelId: channel.id, synced: 34, removed: 0, error: null }]);
    const rows = await client.query('SELECT count(*)::int AS n FROM templates WHERE channel_id = $1', [channel.id]);
    expect(rows.rows[0].n).toBe(34);
    // The token went to the Cloud API as the bearer of each page.
    const pages = sim.requests().filter((q) => q.path.includes('/5550001/message_templates'));
    expect(pages).toHaveLength(2);
    expect(pages[0].headers.authorization).toBe('Bearer tok');

    const noWaba = await run(['channel', 'add', '--tenant', tenant.id, '--phone-number-id', 'pn-cli-2', '--display-phone-number', '+1 556', '--access-token', 'tok2']);
    const second = JSON.parse(noWaba.stdout);
    const partial = await run(['templates', 'sync', '--channel', second.id]);
    expect(partial.code).toBe(1);
    expect(JSON.parse(partial.stdout)).toEqual([{ channelId: second.id, synced: 0, removed: 0, error: { code: 'no_waba_id', message: expect.any(String) } }]);
  });
});
