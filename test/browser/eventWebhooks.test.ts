import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReceiver } from '../events/receiver.ts';
import { launchChromium, runBrowserTests } from './chromium.ts';
import { SANDBOX_START_HOOK_MS, SANDBOX_START_MS, startSandboxProcess, type SandboxProcess } from './sandboxProcess.ts';

const WAIT = 20_000;
const SECRET = 'dashboard-secret-0123456789';

// Skipped only when Chromium is missing and CI is not "true", like the dashboard's other browser tests.
describe.runIf(runBrowserTests)('Event webhooks in the dashboard, in Chromium, against `wagate start --sandbox`', () => {
  let sandbox: SandboxProcess;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  let dash: Page;
  const errors: string[] = [];

  beforeAll(async () => {
    rx = await startReceiver(SECRET);
    // The receiver is on loopback: the operator allows it, as for any tenant URL to a private address.
    sandbox = await startSandboxProcess(SANDBOX_START_MS, { WAGATE_EGRESS_ALLOW: rx.host });
    browser = await launchChromium();
    dash = await browser.context.newPage();
    dash.on('console', (m) => (m.type() === 'error' ? errors.push(m.text()) : undefined));
    dash.on('pageerror', (e) => errors.push(e.message));
    await dash.goto(sandbox.url + '/');
    await dash.fill('#key', sandbox.tenantKey);
    await dash.click('button[type=submit]');
    await dash.locator('.topbar .tenant').waitFor({ timeout: WAIT });
  }, SANDBOX_START_HOOK_MS);
  afterAll(async () => {
    await browser?.close();
    await sandbox?.stop();
    await rx?.close();
  });

  it('Settings subscribes a URL, refuses one to the host, shows the delivery log, redelivers, pauses and removes', async () => {
    await dash.goto(sandbox.url + '/#/settings');
    const section = dash.locator('section.event-subscriptions');
    await section.locator('text=No subscription yet.').waitFor({ timeout: WAIT });

    // A URL to the gateway's own host is refused, with the reason shown.
    await dash.fill('#ev-url', 'http://127.0.0.1:9/hook');
    await dash.fill('#ev-secret', SECRET);
    await section.locator('button[type=submit]').click();
    await expect.poll(() => section.locator('[role=alert]').textContent(), { timeout: WAIT }).toMatch(/private address/);

    await dash.fill('#ev-url', rx.url);
    await dash.fill('#ev-secret', SECRET);
    await section.locator('button[type=submit]').click();
    const item = section.locator('.subscription-list li');
    await expect.poll(() => item.count(), { timeout: WAIT }).toBe(1);
    expect(await item.textContent()).toContain('All events');

    // A customer writes: the events arrive, signed, and the log shows them delivered.
    const r = await fetch(`${sandbox.url}/sandbox/api/chats/15550006001/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Eve', text: 'hi there' }) });
    expect(r.status).toBe(201);
    await expect.poll(() => rx.received.map((e) => e.type), { timeout: WAIT }).toEqual(expect.arrayContaining(['message.received', 'message.disposition', 'message.sent']));
    expect(rx.state.badSignatures).toBe(0);
    await item.locator('button:has-text("Deliveries")').click();
    const rows = item.locator('.delivery-log tbody tr');
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBeGreaterThanOrEqual(3);
    expect(await rows.last().textContent()).toMatch(/message\.received.*delivered \(HTTP 200\)/);

    // Redeliver the first event: it arrives again with the same id.
    const first = rx.received.find((e) => e.type === 'message.received')!;
    await rows.last().locator('button:has-text("Redeliver")').click();
    await expect.poll(() => rx.received.filter((e) => e.id === first.id).length, { timeout: WAIT }).toBe(2);

    await item.locator('button:has-text("Pause")').click();
    await expect.poll(() => item.locator('.badge').textContent(), { timeout: WAIT }).toBe('paused');
    expect(await item.textContent()).toContain('paused by the tenant');
    await item.locator('button:has-text("Remove")').click();
    await section.locator('text=No subscription yet.').waitFor({ timeout: WAIT });
    expect(errors.filter((e) => !/status of 400/.test(e))).toEqual([]);
  }, 120_000);
});
