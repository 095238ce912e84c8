import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, ConsoleMessage, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, runBrowserTests } from './chromium.ts';
import { SANDBOX_START_HOOK_MS, startSandboxProcess, type SandboxProcess } from './sandboxProcess.ts';
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
  }, SANDBOX_START_HOOK_MS);

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

  it('an order question: the demo agent calls the sandbox\'s order_status tool, and the dashboard shows the call under the answer', async () => {
    await write('Where is my order 1234?');
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringMatching(/^Order 1234: /));
    const reply = dash.locator('.msg.out.agent', { hasText: 'Order 1234:' });
    await reply.waitFor({ timeout: WAIT });
    const calls = reply.locator('details.tool-calls');
    expect(await calls.locator('summary').textContent()).toBe('1 tool call');
    expect(await calls.getAttribute('open')).toBeNull();
    await calls.locator('summary').click();
    const call = calls.locator('li[data-tool-status="ok"]');
    await call.waitFor({ timeout: WAIT });
    expect(await call.locator('code').textContent()).toBe('order_status');
    expect(await call.locator('pre').first().textContent()).toContain('"orderId": "1234"');
    expect(await call.locator('pre').nth(1).textContent()).toContain('"status"');
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
    // The demo agent calls the sandbox's tool: its tool rounds are the tenant's to set (0 turns the tool off).
    expect(await dash.locator('#f-maxToolRounds').inputValue()).toBe('3');
    await dash.screenshot({ path: path.join(OUT, 'settings.png') });
    await dash.click('form.settings button[type=submit]');
    await expect.poll(() => dash.locator('form.settings [role=status]').textContent(), { timeout: WAIT }).toMatch(/^Saved/);

    await phone.click('button.customer:has-text("Bob")');
    await write('hello');
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringContaining('"You are Zed, the bike wizard of Demo Bikes."'));
    await phone.screenshot({ path: path.join(OUT, 'sandbox.png') });
  });

  it('the voice-note transcription setting: a model the gateway does not allow is refused with its reason, off and back to the default are saved', async () => {
    const openSettings = async () => {
      await dash.goto(sandbox.url + '/#/settings');
      await dash.locator('#f-transcribe').waitFor({ timeout: WAIT });
    };
    const status = () => dash.locator('form.settings [role=status]').textContent({ timeout: 1_000 }).catch(() => null);
    const alert = () => dash.locator('form.settings [role=alert]').textContent({ timeout: 1_000 }).catch(() => null);
    const save = () => dash.click('form.settings button[type=submit]');
    await openSettings();
    // Never set: transcribed with the gateway's default, the model field empty and labelled.
    expect(await dash.isChecked('#f-transcribe')).toBe(true);
    expect(await dash.inputValue('#f-transcriptionModel')).toBe('');
    expect(await dash.locator('label[for=f-transcriptionModel]').textContent()).toBe('Transcription model');
    expect(await dash.getAttribute('#f-transcriptionModel', 'aria-describedby')).toBe('h-transcriptionModel');

    // The sandbox names no transcription model, so none is allowed on its key: the page says why and nothing is saved.
    await dash.fill('#f-transcriptionModel', 'whisper-large-v3');
    await save();
    await expect.poll(alert, { timeout: WAIT }).toMatch(/^agent\.transcriptionModel: "whisper-large-v3" is not allowed/);
    // The browser logs the refused request itself; that one line is expected, and taken out of the page's trouble.
    const refused = trouble.consoleErrors.filter((e) => /^dashboard: Failed to load resource: .*\b400\b/.test(e));
    expect(refused).toHaveLength(1);
    trouble.consoleErrors.splice(trouble.consoleErrors.indexOf(refused[0]), 1);

    await dash.fill('#f-transcriptionModel', '');
    await dash.uncheck('#f-transcribe');
    expect(await dash.locator('#f-transcriptionModel').count()).toBe(0);
    await save();
    await expect.poll(status, { timeout: WAIT }).toMatch(/^Saved/);
    await openSettings();
    expect(await dash.isChecked('#f-transcribe')).toBe(false);

    await dash.check('#f-transcribe');
    await save();
    await expect.poll(status, { timeout: WAIT }).toMatch(/^Saved/);
    await openSettings();
    expect(await dash.isChecked('#f-transcribe')).toBe(true);
    expect(await dash.inputValue('#f-transcriptionModel')).toBe('');
  });

  it("the bot offers buttons on the phone and a tap gets its answer; the dashboard shows the window and sends a template", async () => {
    await phone.click('button.customer:has-text("Bob")');
    await write('hi');
    const hours = phone.locator('.bubble.them button.choice', { hasText: 'Opening hours' }).last();
    await hours.waitFor({ timeout: WAIT });
    await hours.click();
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringContaining('We are open Monday to Friday'));

    await dash.click('nav a:has-text("Conversations")');
    await dash.locator('a.conversation', { hasText: 'Bob' }).first().click();
    await expect.poll(() => dash.locator('.window-state').textContent(), { timeout: WAIT }).toMatch(/^Window open until /);
    // The agent's buttons read as text, with their ids.
    await expect.poll(() => dash.locator('.msg.out.agent .text').allTextContents(), { timeout: WAIT }).toContainEqual(expect.stringContaining('[buttons: Opening hours (hours) | Prices (prices) | Talk to a person (human)]'));
    await dash.click('.template-sender summary');
    await dash.selectOption('#tpl-choice', 'order_ready|en_US');
    await dash.fill('#tpl-var-1', 'Bob');
    await dash.fill('#tpl-var-2', 'Cargo 2');
    await dash.click('.template-sender button[type=submit]');
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringContaining('Hi Bob, your bike Cargo 2 is ready for pickup.'));
    // Its quick replies show on the phone; the tap goes to the agent, which reads it as the topic.
    const quick = phone.locator('.bubble.them', { hasText: 'Cargo 2' }).locator('button.choice', { hasText: 'Opening hours' });
    await quick.click();
    await expect.poll(async () => (await theirBubbles()).filter((t) => t.includes('We are open Monday to Friday')).length, { timeout: WAIT }).toBe(2);

    // A template with a location header and a URL button that takes a suffix: the dashboard asks for both.
    await dash.selectOption('#tpl-choice', 'service_booked|en_US');
    await dash.fill('#tpl-var-1', 'S-12');
    await dash.fill('#tpl-location-latitude', '38.7223');
    await dash.fill('#tpl-location-longitude', '-9.1393');
    await dash.fill('#tpl-location-name', 'Demo Bikes');
    await dash.fill('#tpl-button-1', 'S-12');
    await dash.click('.template-sender button[type=submit]');
    await expect.poll(theirBubbles, { timeout: WAIT }).toContainEqual(expect.stringContaining('Your service S-12 is booked: bring your bike here.'));
    // After a reload the phone still offers the template's quick reply.
    await phone.reload();
    await phone.click('button.customer:has-text("Bob")');
    await phone.locator('.bubble.them', { hasText: 'S-12' }).locator('button.choice', { hasText: 'Opening hours' }).waitFor({ timeout: WAIT });
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

  it('Tools lists the demo tool, adds one (a schema that is not JSON is refused in the page) and deletes it', async () => {
    await dash.goto(sandbox.url + '/#/tools');
    const rows = dash.locator('.tool-list tbody tr');
    await expect.poll(() => rows.allTextContents(), { timeout: WAIT }).toEqual([expect.stringContaining('order_status')]);
    await dash.click('button.add-tool');
    await dash.fill('#t-name', 'opening_slots');
    await dash.fill('#t-description', 'Free tables at a time');
    await dash.fill('#t-url', 'https://8.8.8.8/slots');
    await dash.fill('#t-parameters', '{"type": "object",');
    await dash.click('button:has-text("Save tool")');
    await expect.poll(() => dash.locator('.tools [role=alert]').textContent(), { timeout: WAIT }).toMatch(/not valid JSON/);
    expect(await rows.count()).toBe(1);
    await dash.fill('#t-parameters', '{"type": "object", "properties": {"time": {"type": "string"}}}');
    await dash.click('button:has-text("Save tool")');
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(2);
    const row = dash.locator('.tool-list tbody tr', { hasText: 'opening_slots' });
    await row.locator('button:has-text("Delete")').click();
    await row.locator('button.danger').click();
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(1);
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

  /** An admin API call with the bearer key (what a script would do), for the rows the pages then manage. */
  async function asAdmin<T>(method: string, url: string, body?: unknown): Promise<{ status: number; body: T }> {
    const res = await fetch(sandbox.url + url, {
      method,
      headers: { authorization: `Bearer ${sandbox.adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (res.status === 204 ? undefined : await res.json()) as T };
  }

  it('the admin manages a tenant on the Tenants page: search, rename and limit, rotate a channel token, remove the channel, delete with the name typed', async () => {
    const tenant = (await asAdmin<{ id: string }>('POST', '/api/tenants', { name: 'Tandem Repairs', monthlyMessageLimit: 500 })).body;
    const channel = await asAdmin<{ id: string }>('POST', `/api/tenants/${tenant.id}/channels`, { phoneNumberId: 'tandem-1', displayPhoneNumber: '+1 555 0199', accessToken: 'first-token' });
    expect(channel.status).toBe(201);

    await dash.click('nav a:has-text("Tenants")');
    await dash.locator('.tenant-list tbody tr').first().waitFor({ timeout: WAIT });
    await dash.fill('#tenant-search', 'tandem');
    await dash.click('form.search button[type=submit]');
    const rows = dash.locator('.tenant-list tbody tr');
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(1);
    expect(await rows.first().locator('td').allTextContents()).toEqual(['Active', '0 of 500', '1', expect.any(String)]);
    // Searching by id finds it too; a state filter it does not match finds nothing.
    await dash.fill('#tenant-search', tenant.id);
    await dash.selectOption('#tenant-state', 'disabled');
    await dash.click('form.search button[type=submit]');
    await expect.poll(() => dash.locator('main [role=status]').textContent(), { timeout: WAIT }).toBe('No tenant matches.');
    await dash.selectOption('#tenant-state', 'active');
    await dash.click('form.search button[type=submit]');
    await expect.poll(() => rows.allTextContents(), { timeout: WAIT }).toEqual([expect.stringContaining('Tandem Repairs')]);
    await rows.first().locator('a').click();
    await expect.poll(() => dash.locator('#tenant-title').textContent(), { timeout: WAIT }).toBe(`Tandem Repairs #${tenant.id}`);

    // Rename and change the limit.
    await dash.fill('#t-name', 'Tandem Bike Repairs');
    await dash.fill('#t-limit', '750');
    await dash.click('form.settings button[type=submit]');
    await expect.poll(() => dash.locator('main > .actions [role=status]').textContent(), { timeout: WAIT }).toBe('Saved.');
    expect((await asAdmin<{ name: string; monthlyMessageLimit: number }>('GET', `/api/tenants/${tenant.id}`)).body).toMatchObject({ name: 'Tandem Bike Repairs', monthlyMessageLimit: 750 });
    await expect.poll(() => dash.locator('#tenant-title').textContent(), { timeout: WAIT }).toBe(`Tandem Bike Repairs #${tenant.id}`);
    expect(await dash.locator('.figures dd').nth(1).textContent()).toBe('0 of 750');
    await dash.screenshot({ path: path.join(OUT, 'tenant.png'), fullPage: true });

    // Rotate the channel's token: typed in a password field, never shown back.
    const row = dash.locator('.channel-list tbody tr', { hasText: '+1 555 0199' });
    await row.locator('button:has-text("Rotate token")').click();
    const token = row.locator('input[type=password]');
    await expect.poll(() => token.evaluate((el) => el === document.activeElement), { timeout: WAIT }).toBe(true);
    await token.fill('second-token');
    await row.locator('button:has-text("Save token")').click();
    await expect.poll(() => dash.locator('.panel [role=status]').textContent(), { timeout: WAIT }).toMatch(/access token of \+1 555 0199 is replaced/);
    expect(await dash.content()).not.toContain('second-token');
    const audit = async () => (await asAdmin<{ items: { action: string; via: string; detail: unknown }[] }>('GET', `/api/audit?tenantId=${tenant.id}`)).body.items;
    expect((await audit())[0]).toMatchObject({ action: 'channel.token_rotated', via: 'dashboard' });
    expect(JSON.stringify(await audit())).not.toContain('second-token');

    // Remove the channel, asked first.
    await row.locator('button:has-text("Remove")').click();
    await row.locator('button.danger').click();
    await expect.poll(() => dash.locator('.channel-list').count(), { timeout: WAIT }).toBe(0);
    expect(await dash.locator('section[aria-labelledby=channels-title]').textContent()).toContain('No channel');
    expect((await asAdmin<{ items: unknown[] }>('GET', `/api/tenants/${tenant.id}/channels`)).body.items).toEqual([]);
    expect((await audit())[0]).toMatchObject({ action: 'channel.removed', detail: { phoneNumberId: 'tandem-1' } });

    // Delete: only once the name is typed exactly.
    const del = dash.locator('.danger-zone button[type=submit]');
    expect(await del.isDisabled()).toBe(true);
    await dash.fill('#t-confirm', 'Tandem Bike');
    expect(await del.isDisabled()).toBe(true);
    await dash.fill('#t-confirm', 'Tandem Bike Repairs');
    expect(await del.isDisabled()).toBe(false);
    await del.click();
    await expect.poll(() => dash.locator('dd[data-state]').getAttribute('data-state'), { timeout: WAIT }).toBe('deleting');
    expect(await dash.locator('main > .actions [role=status]').textContent()).toMatch(/being deleted/);
    expect(await dash.locator('.danger-zone, .channel-list, form.settings').count()).toBe(0);
    await expect.poll(async () => (await asAdmin('GET', `/api/tenants/${tenant.id}`)).status, { timeout: WAIT }).toBe(404);

    // The list shows it as deleting (the API no longer lists it), without a link.
    await dash.click('a:has-text("All tenants")');
    const gone = dash.locator('.tenant-list tbody tr', { hasText: 'Tandem Bike Repairs' });
    await gone.waitFor({ timeout: WAIT });
    expect(await gone.locator('.state').textContent()).toBe('Deleting');
    expect(await gone.locator('a').count()).toBe(0);
    await dash.screenshot({ path: path.join(OUT, 'tenants.png') });
    expect(trouble.consoleErrors).toEqual([]);
    expect(trouble.pageErrors).toEqual([]);
  });

  it("the audit log page: one tenant's actions newest first, paged with the API's cursor, and the tenant chosen in a list", async () => {
    const tenant = (await asAdmin<{ id: string }>('POST', '/api/tenants', { name: 'Audit Paging' })).body;
    // 1 creation + 54 changes: more than the page of 50.
    for (let i = 1; i <= 54; i++) expect((await asAdmin('PATCH', `/api/tenants/${tenant.id}`, { monthlyMessageLimit: i })).status).toBe(200);

    await dash.goto(sandbox.url + '/#/audit');
    await dash.locator('.audit-list tbody tr').first().waitFor({ timeout: WAIT });
    await expect.poll(() => dash.locator('#audit-tenant option').allTextContents(), { timeout: WAIT }).toContain(`Audit Paging #${tenant.id}`);
    await dash.selectOption('#audit-tenant', tenant.id);
    await expect.poll(() => dash.evaluate(() => location.hash)).toBe(`#/audit/${tenant.id}`);
    const rows = dash.locator('.audit-list tbody tr');
    const ids = () => rows.evaluateAll((trs) => trs.map((tr) => Number(tr.getAttribute('data-audit-id'))));
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(50);
    expect(await rows.first().locator('.action').textContent()).toBe('Settings changed');
    expect(await rows.first().locator('.detail').textContent()).toBe('fields: monthlyMessageLimit');
    await dash.click('button:has-text("Load older")');
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(55);
    const seen = await ids();
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(new Set(seen).size).toBe(55);
    expect(await rows.last().getAttribute('data-action')).toBe('tenant.created');
    expect(await dash.locator('button:has-text("Load older")').count()).toBe(0);
    await dash.screenshot({ path: path.join(OUT, 'audit.png') });

    // Back to every tenant.
    await dash.selectOption('#audit-tenant', '');
    await expect.poll(() => dash.locator('.audit-list thead th').allTextContents(), { timeout: WAIT }).toContain('Tenant');

    // On a phone the wide tables scroll in their own box: the page itself does not overflow sideways.
    await dash.setViewportSize({ width: 390, height: 844 });
    for (const [hash, table] of [['#/audit', '.audit-list'], ['#/tenants', '.tenant-list']]) {
      await dash.goto(sandbox.url + '/' + hash);
      await dash.locator(table).waitFor({ timeout: WAIT });
      expect(await dash.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), hash).toBe(true);
      await dash.screenshot({ path: path.join(OUT, `phone-${hash.slice(2)}.png`) });
    }
    await dash.setViewportSize({ width: 1280, height: 800 });
    expect(trouble.consoleErrors).toEqual([]);
  });
});
