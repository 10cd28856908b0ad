// The web console in a real browser: Debian's Chromium driven by playwright-core (no browser
// download) against c2dns with a local upstream. Every page loads with no console error and no
// failed request; a blocked query shows up on the live Queries page; the token is entered once
// and an emergency block made through the Act form is listed and answered blocked by DNS.
// Screenshots (desktop and phone width) go to test-output/console/, which git ignores.
// Without /usr/bin/chromium the test is skipped with a message, except under CI=true where it fails.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ask } from '../helpers/client.js';
import { startC2dns, type TestServer } from '../helpers/c2dns.js';
import { startUpstream, zoneScript, type Upstream } from '../helpers/upstream.js';
import { T } from '../helpers/wire.js';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const TOKEN = 'browser-test-token-0123456789';
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };
const OUT = fileURLToPath(new URL('../../test-output/console/', import.meta.url));
const haveChromium = existsSync(CHROMIUM);
const underCi = process.env.CI === 'true';

if (!haveChromium) {
  const why = `${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium; .ci/run does) to run the web console's browser test`;
  if (underCi) {
    describe('web console in Chromium', () => {
      it('needs Chromium under CI', () => {
        throw new Error(why);
      });
    });
  } else console.warn(`skipped: ${why}`);
}

describe.skipIf(!haveChromium)('web console in Chromium', () => {
  let up: Upstream;
  let c2: TestServer;
  let browser: Browser;
  let page: Page;
  let base: string;
  /** Where the current page was opened (for the problem messages). */
  let at = '';
  const problems: string[] = [];
  const started = Date.now();
  /** When the first page was opened: the browser work is bounded, not the start-up (slow on a loaded CI). */
  let firstPage = 0;

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    up = await startUpstream(zoneScript({ 'example.org 1': [{ name: 'example.org', type: T.A, address: '192.0.2.10' }] }));
    [c2, browser] = await Promise.all([
      startC2dns(
        {
          upstreams: [`127.0.0.1:${up.port}`],
          // A blocked query on a rule tagged "implant" quarantines its client (127.0.0.2 here).
          lists: [{ name: 'c2', path: 'c2.txt', tags: ['c2', '3cx'] }, { name: 'implants', path: 'implants.txt', tags: ['implant'] }],
          quarantine: { enabled: true, tags: ['implant'] },
          admin: { listen: '127.0.0.1:0', token: TOKEN },
        },
        { 'c2.txt': 'akamaicontainer.com\nmsstorageazure.com\n', 'implants.txt': 'implant-beacon.example\n' },
      ),
      chromium.launch({ executablePath: CHROMIUM, args: FLAGS, timeout: 15_000 }),
    ]);
    base = c2.server.admin!.url;
    // One page for the whole test, recording console errors, page errors, failed requests and 4xx/5xx answers.
    page = await browser.newPage({ viewport: DESKTOP });
    page.setDefaultTimeout(5000);
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`${at}: console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`${at}: page error: ${e.message}`));
    page.on('requestfailed', (r) => {
      // An EventSource cut by leaving the page is not a failure of the console.
      if (!(r.url().includes('/api/console/stream') && /ERR_ABORTED/.test(r.failure()?.errorText ?? ''))) problems.push(`${at}: request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`);
    });
    page.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${at}: ${r.status()} ${r.url()}`);
    });
    await ask(c2.port, 'akamaicontainer.com', T.A); // a C2 hit for the Overview
    await ask(c2.port, 'example.org', T.A);
    await ask(c2.port, 'implant-beacon.example', T.A, { from: '127.0.0.2' }); // quarantines 127.0.0.2
  }, 30_000);

  afterAll(async () => {
    await browser?.close();
    await c2?.close();
    await up?.close();
    console.log(`browser test: ${Date.now() - started} ms in all, ${Date.now() - firstPage} ms in the browser; screenshots in ${OUT}`);
  });

  async function open(path: string): Promise<Page> {
    at = path;
    if (firstPage === 0) firstPage = Date.now();
    await page.setViewportSize(DESKTOP);
    await page.goto(`${base}${path}`);
    return page;
  }

  const shot = (p: Page, name: string): Promise<Buffer> => p.screenshot({ path: join(OUT, `${name}.png`), fullPage: true });

  it('Overview: traffic sparkline, the C2 hit with its client, lists and upstreams', async () => {
    const page = await open('/');
    await page.locator('#hits tbody tr', { hasText: 'akamaicontainer.com' }).waitFor();
    expect(await page.locator('#hits tbody tr').first().textContent()).toContain('127.0.0.1');
    expect(await page.locator('#sparkline svg polyline').count()).toBe(2);
    await page.locator('#quarantine tbody tr', { hasText: '127.0.0.2' }).waitFor();
    await page.locator('#lists tbody tr', { hasText: 'fresh' }).first().waitFor();
    await page.locator('#upstreams tbody tr', { hasText: 'healthy' }).waitFor();
    await shot(page, 'overview-desktop');
    await page.setViewportSize(PHONE);
    await shot(page, 'overview-phone');
  });

  it('Queries: a blocked query appears in the live view within 2 s, with its reason', async () => {
    const page = await open('/queries');
    await page.locator('#tail-state', { hasText: 'Live' }).waitFor();
    const t0 = Date.now();
    await ask(c2.port, 'beacon.msstorageazure.com', T.A);
    const row = page.locator('#tail tbody tr', { hasText: 'beacon.msstorageazure.com' });
    await row.waitFor({ timeout: 2000 });
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await row.textContent()).toContain('list=c2 rule=msstorageazure.com');
    // Filters reconnect the stream: only matching queries stay.
    await page.fill('#f-name', 'example.org');
    await page.locator('#tail tbody tr', { hasText: 'msstorageazure' }).waitFor({ state: 'detached' });
    await ask(c2.port, 'sub.example.org', T.A);
    await page.locator('#tail tbody tr', { hasText: 'sub.example.org' }).waitFor();
    expect(await page.locator('#tail tbody tr', { hasText: 'msstorageazure' }).count()).toBe(0);
    // Pause and resume.
    await page.click('#tail-pause');
    expect(await page.getAttribute('#tail-pause', 'aria-pressed')).toBe('true');
    await ask(c2.port, 'www.example.org', T.A);
    await page.click('#tail-pause');
    await page.locator('#tail tbody tr', { hasText: 'www.example.org' }).waitFor();
    await shot(page, 'queries-desktop');
    await page.setViewportSize(PHONE);
    await shot(page, 'queries-phone');
  });

  it('Act: the token once per session, an emergency block through the form, listed and answered blocked; release from quarantine', async () => {
    const page = await open('/act');
    await page.getByRole('button', { name: 'Refresh implants' }).waitFor();
    // Keyboard only: the token field has a label and takes focus.
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByLabel('Admin token').press('Enter');
    await page.locator('#token-state', { hasText: 'set' }).waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('c2dns.adminToken'))).toBe(TOKEN);
    expect(await page.evaluate(() => document.cookie)).toBe('');
    await page.getByLabel('Names').fill('evil-c2.example');
    await page.getByLabel('Reason').fill('browser test: incident 42');
    await page.getByLabel('Expires').selectOption('1h');
    await page.getByRole('button', { name: 'Block', exact: true }).click();
    await page.locator('#block-result', { hasText: 'Blocked evil-c2.example' }).waitFor();
    const listed = page.locator('#blocks tbody tr', { hasText: 'evil-c2.example' });
    await listed.waitFor();
    expect(await listed.textContent()).toContain('browser test: incident 42');
    const a = await ask(c2.port, 'www.evil-c2.example', T.A);
    expect(a.packet.answers[0]).toMatchObject({ address: '0.0.0.0' });
    await shot(page, 'act-desktop');
    await page.setViewportSize(PHONE);
    await shot(page, 'act-phone');
    await page.setViewportSize(DESKTOP);
    // The token stays for the session: the next page can change things without asking again.
    await page.goto(`${base}/act`);
    await page.getByRole('button', { name: 'Unblock evil-c2.example' }).click();
    await page.locator('#block-result', { hasText: 'Unblocked evil-c2.example' }).waitFor();
    // Release from quarantine: the client's queries are answered again.
    expect((await ask(c2.port, 'example.org', T.A, { from: '127.0.0.2' })).packet.answers[0]).toMatchObject({ address: '0.0.0.0' });
    await page.getByRole('button', { name: 'Release 127.0.0.2' }).click();
    await page.locator('#release-result', { hasText: 'Released 127.0.0.2' }).waitFor();
    await page.locator('#act-quarantine tbody tr.empty').waitFor();
    expect(c2.server.quarantineStore.list()).toEqual([]);
    expect((await ask(c2.port, 'example.org', T.A, { from: '127.0.0.2' })).packet.answers[0]).toMatchObject({ address: '192.0.2.10' });
  });

  it('Clients: top clients and a timeline', async () => {
    const page = await open('/clients');
    await page.locator('#top-clients tbody tr', { hasText: '127.0.0.1' }).waitFor();
    await page.getByRole('button', { name: 'Timeline of 127.0.0.1' }).click();
    await page.locator('#timeline tbody tr', { hasText: 'akamaicontainer.com' }).waitFor();
    await shot(page, 'clients-desktop');
    await page.setViewportSize(PHONE);
    await shot(page, 'clients-phone');
  });

  it('no console errors and no failed requests on any page; the browser part within 20 s', () => {
    expect(problems).toEqual([]);
    expect(Date.now() - firstPage).toBeLessThan(20_000);
  });
});
