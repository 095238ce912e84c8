import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { provisionTenant, startTestGateway, type TestGateway } from '../support/gateway.ts';
import { sqlClient } from '../support/db.ts';
import { postWebhook, textNotification } from '../support/webhooks.ts';
import { ingestOnly, Rows } from './rows.ts';

describe('statement timeout on ingest (WAGATE_INGEST_STATEMENT_TIMEOUT_MS)', () => {
  let gw: TestGateway;
  let rows: Rows;
  let phoneNumberId: string;
  beforeAll(async () => {
    gw = await startTestGateway({ ...ingestOnly(), env: { WAGATE_INGEST_STATEMENT_TIMEOUT_MS: '300' } });
    rows = await Rows.open(gw.dbUrl);
    ({ phoneNumberId } = await provisionTenant(gw));
  });
  afterAll(async () => {
    await rows?.close();
    await gw?.stop();
  });

  it('answers 503 ingest_timeout and stores nothing when the statement runs past it, and stores the redelivery', async () => {
    const customer = '15550009001';
    expect((await postWebhook(gw.url, textNotification(phoneNumberId, customer, 'first').body)).status).toBe(200);

    // Another session holds the customer's contact row: ingest waits on it past its timeout.
    const blocker = await sqlClient(gw.dbUrl);
    try {
      await blocker.query('BEGIN');
      await blocker.query('SELECT id FROM contacts WHERE wa_id = $1 FOR UPDATE', [customer]);
      const n = textNotification(phoneNumberId, customer, 'second');
      const res = await postWebhook(gw.url, n.body);
      expect(res.status).toBe(503);
      expect(JSON.parse(res.text)).toEqual({ error: { code: 'ingest_timeout', message: expect.any(String) } });
      expect(await rows.message(n.wamid)).toBeUndefined();
      await blocker.query('ROLLBACK');

      // Meta delivers it again: stored once.
      expect((await postWebhook(gw.url, n.body)).status).toBe(200);
      expect((await rows.message(n.wamid))?.body).toBe('second');
    } finally {
      await blocker.end();
    }
  });
});
