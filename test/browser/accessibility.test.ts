import { AxeBuilder } from '@axe-core/playwright';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, runBrowserTests } from './chromium.ts';
import { SANDBOX_START_HOOK_MS, startSandboxProcess, type SandboxProcess } from './sandboxProcess.ts';

const WAIT = 15_000;

/** axe's serious and critical findings on the page as it is now, one line each (empty: none). */
async function seriousViolations(page: Page): Promise<string[]> {
  // The type of @axe-core/playwright's page is playwright's; playwright-core's is the same object.
  const result = await new AxeBuilder({ page: page as never }).analyze();
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/**
 * Presses Tab until the focused element matches `selector` (and holds `text`,
 * when given); fails if it never does. Only the keyboard moves the focus.
 */
async function tabTo(page: Page, selector: string, text?: string, max = 80): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    const hit = await page.evaluate(
      ([s, t]) => {
        const el = document.activeElement;
        return !!el && el.matches(s!) && (t === undefined || (el.textContent ?? '').includes(t));
      },
      [selector, text] as const,
    );
    if (hit) return;
  }
  throw new Error(`Tab never reached ${selector}${text ? ` with "${text}"` : ''}`);
}

// Skipped only when Chromium is missing and CI is not "true"; under CI=true a missing Chromium fails the launch.
describe.runIf(runBrowserTests)('accessibility: axe on every dashboard and sandbox page, and the dashboard by keyboard alone', () => {
  let sandbox: SandboxProcess;
  let browser: { context: BrowserContext; close(): Promise<void> };
  let dash: Page;
  let phone: Page;

  beforeAll(async () => {
    sandbox = await startSandboxProcess();
    browser = await launchChromium();
    dash = await browser.context.newPage();
    phone = await browser.context.newPage();
  }, SANDBOX_START_HOOK_MS);

  afterAll(async () => {
    await browser?.close();
    await sandbox?.stop();
  });

  it('the sandbox phone page: no serious or critical violation, before and after a conversation', async () => {
    await phone.goto(sandbox.url + '/sandbox');
    await phone.waitForSelector('button.customer', { timeout: WAIT });
    expect(await seriousViolations(phone)).toEqual([]);
    await phone.click('button.customer:has-text("Alice")');
    await phone.fill('#message', 'What are your opening hours?');
    await phone.click('button.send');
    await phone.waitForSelector('.bubble.them:not(.typing)', { timeout: WAIT });
    expect(await seriousViolations(phone)).toEqual([]);
  });

  it('signs in, opens a conversation, pauses, answers by hand and resumes with the keyboard alone; axe finds nothing serious on the way', async () => {
    await dash.goto(sandbox.url + '/');
    await dash.waitForSelector('#key', { timeout: WAIT });
    expect(await seriousViolations(dash)).toEqual([]);

    // Sign-in.
    await tabTo(dash, '#key');
    await dash.keyboard.type(sandbox.tenantKey);
    await dash.keyboard.press('Enter');
    await expect.poll(() => dash.locator('.topbar .tenant').textContent(), { timeout: WAIT }).toBe('Demo Bikes');

    // The conversation list.
    await dash.waitForSelector('a.conversation', { timeout: WAIT });
    expect(await seriousViolations(dash)).toEqual([]);
    await tabTo(dash, 'a.conversation', 'Alice');
    await dash.keyboard.press('Enter');
    await expect.poll(() => dash.locator('#conv-title').textContent(), { timeout: WAIT }).toBe('Alice');
    await dash.waitForSelector('.msg.out.agent', { timeout: WAIT });
    expect(await seriousViolations(dash)).toEqual([]);

    // Pause.
    await tabTo(dash, 'button', 'Pause bot');
    await dash.keyboard.press('Enter');
    await expect.poll(() => dash.locator('.bot-state').textContent(), { timeout: WAIT }).toMatch(/^Bot paused/);

    // Reply.
    await tabTo(dash, 'form.reply textarea');
    await dash.keyboard.type('Typed without a mouse.');
    await tabTo(dash, 'form.reply button[type=submit]');
    await dash.keyboard.press('Enter');
    await expect.poll(() => dash.locator('.msg.out.operator .text').allTextContents(), { timeout: WAIT }).toContain('Typed without a mouse.');
    await expect.poll(() => phone.locator('.bubble.them .btext').allTextContents(), { timeout: WAIT }).toContain('Typed without a mouse.');

    // Resume, with the space bar this time.
    await tabTo(dash, 'button', 'Resume bot');
    await dash.keyboard.press(' ');
    await expect.poll(() => dash.locator('.bot-state').textContent(), { timeout: WAIT }).toBe('Bot active');
    expect(await seriousViolations(dash)).toEqual([]);
  });

  it('the settings page: no serious or critical violation', async () => {
    await dash.goto(sandbox.url + '/#/settings');
    await dash.waitForSelector('#f-systemPrompt', { timeout: WAIT });
    await dash.waitForSelector('.key-list', { timeout: WAIT });
    expect(await seriousViolations(dash)).toEqual([]);
  });

  it("a tenant's audit log page: no serious or critical violation", async () => {
    await dash.goto(sandbox.url + '/#/audit');
    await dash.waitForSelector('.audit-list tbody tr', { timeout: WAIT });
    // The keyboard test above paused and resumed: the tenant key sees its own actions, and no tenant column.
    expect(await dash.locator('.audit-list tbody tr').first().getAttribute('data-action')).toBe('conversation.resumed');
    expect(await dash.locator('.audit-list thead th').allTextContents()).toEqual(['When', 'Who', 'Action', 'Target', 'Detail']);
    expect(await seriousViolations(dash)).toEqual([]);
  });

  it('the tools page, with its form open: no serious or critical violation', async () => {
    await dash.goto(sandbox.url + '/#/tools');
    await dash.waitForSelector('.tool-list', { timeout: WAIT });
    await dash.click('button.add-tool');
    await dash.waitForSelector('#t-parameters', { timeout: WAIT });
    expect(await seriousViolations(dash)).toEqual([]);
  });

  it("the admin's pages (every tenant's conversations, performance): no serious or critical violation", async () => {
    await dash.click('button:has-text("Sign out")');
    await dash.waitForSelector('#key', { timeout: WAIT });
    await dash.fill('#key', sandbox.adminKey);
    await dash.click('button[type=submit]');
    await expect.poll(() => dash.locator('.topbar .tenant').textContent(), { timeout: WAIT }).toBe('Admin: every tenant');
    await dash.waitForSelector('a.conversation', { timeout: WAIT });
    expect(await seriousViolations(dash)).toEqual([]);
    await dash.goto(sandbox.url + '/#/performance');
    await dash.waitForSelector('h2:has-text("Performance")', { timeout: WAIT });
    expect(await seriousViolations(dash)).toEqual([]);
  });

  it('as the admin, with the keyboard alone: finds a tenant, disables and enables it (asked first), and reads both in its audit log; axe finds nothing serious on the way', async () => {
    await dash.goto(sandbox.url + '/#/');
    await dash.waitForSelector('a.conversation', { timeout: WAIT });
    await tabTo(dash, 'nav a', 'Tenants');
    await dash.keyboard.press('Enter');
    await dash.waitForSelector('.tenant-list tbody tr', { timeout: WAIT });
    expect(await seriousViolations(dash)).toEqual([]);

    // Search by name.
    await tabTo(dash, '#tenant-search');
    await dash.keyboard.type('demo');
    await dash.keyboard.press('Enter');
    await expect.poll(() => dash.locator('.tenant-list tbody tr').allTextContents(), { timeout: WAIT }).toEqual([expect.stringMatching(/^Demo Bikes #\d+Active\d+ of 1,0001/)]);
    await tabTo(dash, '.tenant-list a', 'Demo Bikes');
    await dash.keyboard.press('Enter');
    await expect.poll(() => dash.locator('#tenant-title').textContent(), { timeout: WAIT }).toMatch(/^Demo Bikes #\d+$/);
    await dash.waitForSelector('.channel-list tbody tr', { timeout: WAIT });
    expect(await seriousViolations(dash)).toEqual([]);
    const state = dash.locator('dd[data-state]');
    expect(await state.getAttribute('data-state')).toBe('active');
    const focused = () => dash.evaluate(() => document.activeElement?.textContent ?? '');

    // Disable: the question takes the focus on its confirming button; the answer gives it back to the (now) Enable button.
    await tabTo(dash, 'button', 'Disable');
    await dash.keyboard.press('Enter');
    await expect.poll(focused, { timeout: WAIT }).toBe('Disable Demo Bikes');
    expect(await dash.locator('.confirm p').textContent()).toMatch(/^Disable Demo Bikes\? Its webhooks are still stored/);
    expect(await seriousViolations(dash)).toEqual([]);
    await dash.keyboard.press('Enter');
    await expect.poll(() => state.getAttribute('data-state'), { timeout: WAIT }).toBe('disabled');
    expect(await state.textContent()).toMatch(/^Disabled since /);
    await expect.poll(focused, { timeout: WAIT }).toBe('Enable');
    // A tenant key of a disabled tenant is refused.
    expect((await fetch(sandbox.url + '/api/usage', { headers: { authorization: `Bearer ${sandbox.tenantKey}` } })).status).toBe(403);

    // Enable, with the space bar this time.
    await dash.keyboard.press(' ');
    await expect.poll(focused, { timeout: WAIT }).toBe('Enable Demo Bikes');
    await dash.keyboard.press(' ');
    await expect.poll(() => state.getAttribute('data-state'), { timeout: WAIT }).toBe('active');
    expect((await fetch(sandbox.url + '/api/usage', { headers: { authorization: `Bearer ${sandbox.tenantKey}` } })).status).toBe(200);

    // Its audit log: newest first, both actions, by the admin through the dashboard.
    await tabTo(dash, 'a', 'Audit log of Demo Bikes');
    await dash.keyboard.press('Enter');
    const rows = dash.locator('.audit-list tbody tr');
    await expect.poll(async () => (await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action')))).slice(0, 2), { timeout: WAIT }).toEqual([
      'tenant.enabled',
      'tenant.disabled',
    ]);
    expect(await rows.nth(0).locator('.who').textContent()).toBe('Admin key, dashboard');
    expect(await rows.nth(0).locator('.action').textContent()).toBe('Tenant enabled');
    expect(await rows.nth(1).locator('.action').textContent()).toBe('Tenant disabled');
    expect(await dash.locator('#audit-tenant option:checked').textContent()).toMatch(/^Demo Bikes #\d+$/);
    expect(await seriousViolations(dash)).toEqual([]);

    // Every tenant's log, with the tenant column.
    await tabTo(dash, 'nav a', 'Audit log');
    await dash.keyboard.press('Enter');
    await expect.poll(() => dash.locator('.audit-list thead th').allTextContents(), { timeout: WAIT }).toEqual(['When', 'Who', 'Action', 'Tenant', 'Target', 'Detail']);
    expect(await seriousViolations(dash)).toEqual([]);
  });
});
