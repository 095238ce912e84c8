import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, runBrowserTests } from './chromium.ts';
import { startSandboxProcess, type SandboxProcess } from './sandboxProcess.ts';
import { oggOpus } from '../media/fixtures.ts';

const OUT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-output');
const WAIT = 15_000;

/** What went wrong in a page: console errors, uncaught exceptions, dialogs. */
interface PageTrouble {
  consoleErrors: string[];
  pageErrors: string[];
  dialogs: string[];
}

function watch(page: Page, trouble: PageTrouble, name: string): void {
  page.on('console', (m: ConsoleMessage) => {
    if (m.type() === 'error') trouble.consoleErrors.push(`${name}: ${m.text()}`);
  });
  page.on('pageerror', (e) => trouble.pageErrors.push(`${name}: ${e.message}`));
  page.on('dialog', (d) => {
    trouble.dialogs.push(`${name}: ${d.type()} ${d.message()}`);
    void d.dismiss();
  });
}

// Skipped only when Chromium is missing and CI is not "true"; under CI=true a missing Chromium fails the launch.
describe.runIf(runBrowserTests)('the dashboard and the sandbox phone, in Chromium, against `wagate start --sandbox`', () => {
  let sandbox: SandboxProcess;
  let browser: { context: BrowserContext; close(): Promise<void> };
  let dash: Page;
  let phone: Page;
  const trouble: PageTrouble = { consoleErrors: [], pageErrors: [], dialogs: [] };

  /** The phone's bubbles from the business, as text. */
  const theirBubbles = () => phone.locator('.bubble.them:not(.typing)').allTextContents();
  /** Writes as the current customer on the phone page, and waits until the phone shows it sent. */
  async function write(text: string, kind: 'text' | 'image' | 'document' = 'text', filename?: string) {
    const mine = await phone.locator('.bubble.me').count();
    await phone.selectOption('#kind', kind);
    if (filename !== undefined) await phone.fill('input.filename', filename);
    await phone.fill('#message', text);
    await phone.click('button.send');
    await expect.poll(() => phone.locator('.bubble.me').count(), { timeout: WAIT }).toBe(mine + 1);
  }

  beforeAll(async () => {
    await mkdir(OUT, { recursive: true });
    sandbox = await startSandboxProcess();
    browser = await launchChromium();
    dash = await browser.context.newPage();
    phone = await browser.context.newPage();
    watch(dash, trouble, 'dashboard');
    watch(phone, trouble, 'sandbox');
  });

  afterAll(async () => {
    await browser?.close();
    await sandbox?.stop();
  });

  it('signs in with the key printed at start; the key stays out of reach of scripts', async () => {
    await dash.goto(sandbox.url + '/');
    await dash.fill('#key', sandbox.tenantKey);
    await dash.click('button[type=submit]');
    await expect.poll(() => dash.locator('.topbar .tenant').textContent(), { timeout: WAIT }).toBe('Demo Bikes');
    const cookie = (await browser.context.cookies()).find((c) => c.name === 'wagate_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // The cookie holds a server-side session's random token, never the key.
    expect(cookie!.value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(cookie!.value).not.toContain(sandbox.tenantKey.slice(4, 16));
    const visible = await dash.evaluate(() => JSON.stringify([document.cookie, { ...localStorage }, { ...sessionStorage }]));
    expect(visible).not.toContain(sandbox.tenantKey);
    await expect.poll(() => dash.locator('.usage-text').textContent(), { timeout: WAIT }).toMatch(/of 1000 answers this month/);
  });

  it("a customer writes on /sandbox: the bot's answer appears on the phone and in the dashboard, without reloading", async () => {
    await dash.evaluate(() => ((window as unknown as { notReloaded: boolean }).notReloaded = true));
    await phone.goto(sandbox.url + '/sandbox');
    await phone.click('button.customer:has-text("Alice")');
    await write('What are your opening hours?');
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringContaining('We are open Monday to Friday'));

    const alice = dash.locator('a.conversation', { hasText: 'Alice' });
    await alice.waitFor({ timeout: WAIT });
    await alice.click();
    await expect.poll(() => dash.locator('.msg.out.agent .text').allTextContents(), { timeout: WAIT }).toContainEqual(expect.stringContaining('We are open Monday to Friday'));
    await expect.poll(() => dash.locator('.msg.in .disposition').last().textContent(), { timeout: WAIT }).toBe('Answered by the bot');
    // Sent, then delivered and read as the simulator posts the statuses back through the signed webhook.
    await expect.poll(() => dash.locator('.msg.out .status').last().getAttribute('data-status'), { timeout: WAIT }).toBe('read');
    expect(await dash.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true);
  });

  it('pause from the dashboard: the next message gets no bot answer, and its disposition says paused', async () => {
    await dash.click('button:has-text("Pause bot")');
    await expect.poll(() => dash.locator('.bot-state').textContent(), { timeout: WAIT }).toMatch(/^Bot paused/);
    const before = (await theirBubbles()).length;
    await write('Is anybody there?');
    const msg = dash.locator('.msg.in', { hasText: 'Is anybody there?' });
    await msg.waitFor({ timeout: WAIT });
    await expect.poll(() => msg.locator('.disposition').getAttribute('data-disposition'), { timeout: WAIT }).toBe('paused');
    expect(await msg.locator('.disposition').textContent()).toBe('Not answered: the bot is paused for this conversation');
    // The disposition is final: no turn ran, so the phone got nothing.
    expect((await theirBubbles()).length).toBe(before);
    await expect.poll(() => dash.locator('a.conversation', { hasText: 'Alice' }).locator('.badge.warn').textContent(), { timeout: WAIT }).toBe('Paused');
  });

  it('an operator answers by hand: the reply arrives on the phone', async () => {
    await dash.fill('#reply-text', 'Hi, Sam here from Demo Bikes. How can I help?');
    await dash.click('form.reply button[type=submit]');
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringContaining('Hi, Sam here from Demo Bikes. How can I help?'));
    await expect.poll(() => dash.locator('.msg.out.operator .text').allTextContents(), { timeout: WAIT }).toContain('Hi, Sam here from Demo Bikes. How can I help?');
    await dash.screenshot({ path: path.join(OUT, 'dashboard.png') });
  });

  it('a new system prompt is used: the demo greeting quotes its first sentence', async () => {
    await dash.click('button:has-text("Resume bot")');
    await expect.poll(() => dash.locator('.bot-state').textContent(), { timeout: WAIT }).toBe('Bot active');
    await dash.click('nav a:has-text("Settings")');
    const prompt = dash.locator('#f-systemPrompt');
    await prompt.waitFor({ timeout: WAIT });
    await prompt.fill('You are Zed, the bike wizard of Demo Bikes. Keep answers short.');
    // The monthly limit is the operator's: shown, not an input the tenant could change.
    expect(await dash.locator('#f-monthlyMessageLimit').count()).toBe(0);
    expect(await dash.locator('form.settings .fixed').first().textContent()).toBe('1,000');
    await dash.screenshot({ path: path.join(OUT, 'settings.png') });
    await dash.click('form.settings button[type=submit]');
    await expect.poll(() => dash.locator('form.settings [role=status]').textContent(), { timeout: WAIT }).toMatch(/^Saved/);

    await phone.click('button.customer:has-text("Bob")');
    await write('hello');
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringContaining('"You are Zed, the bike wizard of Demo Bikes."'));
    await phone.screenshot({ path: path.join(OUT, 'sandbox.png') });
  });

  it('customer content is shown as text: a name, text, caption and file name full of HTML run nothing', async () => {
    const evil = {
      name: '<img src=x onerror=alert(1)>',
      text: '<script>window.__xss = 1; alert(2)</script>',
      caption: '<b>bold</b><img src=x onerror=alert(3)>',
      filename: '<svg onload=alert(4)>.pdf',
    };
    await phone.fill('#nc-name', evil.name);
    await phone.fill('#nc-number', '15550006666');
    await phone.click('form.new-customer button[type=submit]');
    await expect.poll(() => phone.locator('.phone-head .as').textContent(), { timeout: WAIT }).toBe('as ' + evil.name);
    await write(evil.text);
    await write(evil.caption, 'image');
    await write('', 'document', evil.filename);

    await dash.click('nav a:has-text("Conversations")');
    const item = dash.locator('a.conversation', { hasText: evil.name });
    await item.waitFor({ timeout: WAIT });
    expect(await item.locator('.name').textContent()).toBe(evil.name);
    await item.click();
    await expect.poll(() => dash.locator('#conv-title').textContent(), { timeout: WAIT }).toBe(evil.name);
    await expect.poll(() => dash.locator('.msg.in .text').allTextContents(), { timeout: WAIT }).toEqual(expect.arrayContaining([evil.text, evil.caption]));
    await expect.poll(() => dash.locator('.msg.in .media').allTextContents(), { timeout: WAIT }).toContainEqual(expect.stringContaining(evil.filename));
    // The bot's echo quotes the text back: also as text.
    await expect.poll(() => dash.locator('.msg.out.agent .text').allTextContents(), { timeout: WAIT }).toContainEqual(expect.stringContaining(evil.text));

    for (const page of [dash, phone]) {
      expect(await page.locator('img[src="x"], svg[onload], script:not([src])').count()).toBe(0);
      expect(await page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
    }
    await dash.waitForTimeout(300);
    expect(trouble.dialogs).toEqual([]);
  });

  it('a photo and a voice note sent from the phone are shown in the dashboard: a thumbnail that opens full size, a player', async () => {
    const sharp = (await import('sharp')).default;
    const png = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 10, g: 160, b: 90 } } }).png().toBuffer();
    await phone.goto(sandbox.url + '/sandbox');
    await phone.fill('#nc-name', 'Mia');
    await phone.fill('#nc-number', '15550007777');
    await phone.click('form.new-customer button[type=submit]');
    await expect.poll(() => phone.locator('.phone-head .as').textContent(), { timeout: WAIT }).toBe('as Mia');
    const send = async (kind: 'image' | 'audio', file: { name: string; mimeType: string; buffer: Buffer }, caption = '') => {
      const mine = await phone.locator('.bubble.me').count();
      await phone.selectOption('#kind', kind);
      await phone.setInputFiles('input.file', file);
      await phone.fill('#message', caption);
      await phone.click('button.send');
      await expect.poll(() => phone.locator('.bubble.me').count(), { timeout: WAIT }).toBe(mine + 1);
    };
    await send('image', { name: 'bike.png', mimeType: 'image/png', buffer: png }, 'my green bike');
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringContaining('Thanks for the image ("my green bike"). I received'));
    await send('audio', { name: 'note.ogg', mimeType: 'audio/ogg', buffer: oggOpus(3000) });
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringContaining('I have no transcript of it.'));

    await dash.click('nav a:has-text("Conversations")');
    await dash.locator('a.conversation', { hasText: 'Mia' }).click();
    const thumb = dash.locator('.msg.in .media img.thumb');
    await thumb.waitFor({ timeout: WAIT });
    await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), { timeout: WAIT }).toBe(300);
    expect(await dash.locator('.msg.in .media a.media-open').getAttribute('href')).toMatch(/^\/api\/media\/\d+$/);
    expect(await dash.locator('.msg.in .media audio').count()).toBe(1);
  });

  it('the pages carry a strict CSP and the usual security headers, and logged no error at all', async () => {
    for (const p of ['/', '/sandbox']) {
      const res = await fetch(sandbox.url + p);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
    expect(trouble.pageErrors).toEqual([]);
    expect(trouble.consoleErrors).toEqual([]);
  });

  it('Settings lists the keys, creates one (shown once) and revokes it', async () => {
    await dash.goto(sandbox.url + '/#/settings');
    const rows = dash.locator('.key-list tbody tr');
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(1);
    expect(await rows.first().textContent()).toContain(sandbox.tenantKey.slice(0, 8) + '…');
    await dash.click('button.create-key');
    const shown = dash.locator('.new-key-value');
    await shown.waitFor({ timeout: WAIT });
    const key = await shown.inputValue();
    expect(key).toMatch(/^wgk_/);
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(2);
    expect((await fetch(sandbox.url + '/api/usage', { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    const row = dash.locator('.key-list tbody tr', { hasText: key.slice(0, 8) + '…' });
    await row.locator('button:has-text("Revoke")').click();
    await row.locator('button.danger').click();
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(1);
    expect(await dash.locator('.keys [role=status]').last().textContent()).toMatch(/revoked/);
    expect(await dash.locator('.new-key-value').count()).toBe(0);
    expect((await fetch(sandbox.url + '/api/usage', { headers: { authorization: `Bearer ${key}` } })).status).toBe(401);
    expect(trouble.consoleErrors).toEqual([]);
  });

  it('reads well on a phone-sized screen', async () => {
    await dash.setViewportSize({ width: 390, height: 844 });
    await dash.goto(sandbox.url + '/#/');
    await dash.locator('a.conversation').first().waitFor({ timeout: WAIT });
    await dash.screenshot({ path: path.join(OUT, 'dashboard-phone-list.png') });
    await dash.locator('a.conversation', { hasText: 'Alice' }).click();
    await dash.locator('.msg').first().waitFor({ timeout: WAIT });
    // One pane at a time: the list hides while a conversation is open; nothing overflows sideways.
    expect(await dash.locator('.list-pane').isVisible()).toBe(false);
    expect(await dash.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
    await dash.screenshot({ path: path.join(OUT, 'dashboard-phone.png') });
    expect(trouble.consoleErrors).toEqual([]);
  });

  it('signs out, and the admin key sees every tenant and the performance charts', async () => {
    await dash.setViewportSize({ width: 1280, height: 800 });
    await dash.goto(sandbox.url + '/#/');
    const session = (await browser.context.cookies()).find((c) => c.name === 'wagate_session')!;
    await dash.click('button:has-text("Sign out")');
    await dash.locator('#key').waitFor({ timeout: WAIT });
    expect((await browser.context.cookies()).some((c) => c.name === 'wagate_session')).toBe(false);
    // A copy of the cookie taken before signing out no longer works.
    expect((await fetch(sandbox.url + '/api/usage', { headers: { cookie: `wagate_session=${session.value}` } })).status).toBe(401);
    await dash.fill('#key', sandbox.adminKey);
    await dash.click('button[type=submit]');
    await expect.poll(() => dash.locator('.topbar .tenant').textContent(), { timeout: WAIT }).toBe('Admin: every tenant');
    await dash.locator('a.conversation', { hasText: 'Alice' }).waitFor({ timeout: WAIT });
    await dash.click('nav a:has-text("Performance")');
    await expect.poll(() => dash.locator('.chart svg polyline').count(), { timeout: WAIT }).toBe(12);
    await expect.poll(() => dash.locator('.figures dd').first().textContent(), { timeout: WAIT }).toMatch(/^\d+ \(peak \d+\)$/);
    await dash.screenshot({ path: path.join(OUT, 'performance.png') });
    expect(trouble.consoleErrors).toEqual([]);
    expect(trouble.pageErrors).toEqual([]);
  });
});

