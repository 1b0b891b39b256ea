// Guichet's pages in a real headless Chromium, against a real `guichet serve`
// (started by run.sh, which passes GUICHET_URL and GUICHET_ADMIN_TOKEN).
// The scenarios run in order and share one event: a buyer on a phone waits
// through the countdown and the queue, takes the best 2 seats, pays and gets
// two QR codes; a second buyer reloads mid-queue and keeps the place; the
// promoter changes the admission rate and sees the dashboard follow; the
// second buyer, admitted in turn, picks seats on the map; a third leaves; a
// buyer pays through the test provider and the order link the confirmation
// email brought shows and prints the tickets in a fresh browser once the
// access has expired (and downloads them as a PDF); a buyer with only the
// order link cancels through the confirmation emailed to them, and has a
// lost link emailed again (the emails read from a real SMTP server's
// maildir); buyers pay through the test provider's page and
// through Stripe's card form (Stripe.js routed to a fixture, the provider's
// webhook signed by the test).
// Any page JavaScript error, console error, or unexpected HTTP error fails
// the test it happens in. Screenshots of each step go to $SCREENSHOTS.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.GUICHET_URL;
const WEBHOOK_SECRET = process.env.STRIPE_WEBHOOK_SECRET;
const ADMIN = process.env.GUICHET_ADMIN_TOKEN;
const SHOTS = process.env.SCREENSHOTS || 'screenshots';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
/** Where the SMTP server on loopback keeps what the server emailed (a maildir), and how to read it. */
const MAIL_DIR = process.env.MAIL_DIR;
const SMTP_PYTHON = process.env.SMTP_PYTHON;
const PARSE_MAIL = process.env.PARSE_MAIL;
/** The address the server puts before its emailed links (`--public-url`). */
const PUBLIC_URL = 'http://e2e.invalid';
assert.ok(BASE && ADMIN, 'GUICHET_URL and GUICHET_ADMIN_TOKEN are set (run.sh sets them)');
mkdirSync(SHOTS, { recursive: true });

const EVENT = 'e2e-' + Date.now().toString(36);
const ADMIT_PER_MINUTE = 12;
const problems = [];
/** HTTP errors a scenario expects (the unknown event's page and API call). */
const expectedErrors = new Set();
let browser;
let shot = 0;
const buyer = {};
const second = {};

/** axe-core's source, evaluated in a page (CDP evaluation is not subject to the page's CSP). */
const AXE = await readFile(new URL('./node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');
/** The rules every page state must pass: WCAG 2.0, 2.1 and 2.2, levels A and AA. */
const WCAG_AA = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/** A screenshot of a step, which also checks the page as it stands against WCAG 2.2 AA (axe-core). */
async function screenshot(page, name, options) {
  shot += 1;
  const file = join(SHOTS, String(shot).padStart(2, '0') + '-' + name + '.png');
  await page.screenshot(Object.assign({ path: file, fullPage: true }, options || {}));
  await accessible(page, name);
}

/** Every WCAG 2.2 AA violation axe-core finds on the page becomes a problem of the test. */
async function accessible(page, name) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE);
  const violations = await page.evaluate((tags) => window.axe.run(document, { runOnly: { type: 'tag', values: tags } }).then((r) => r.violations.map((v) => ({
    id: v.id, targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '').split('\n').slice(1, 2).join(' ')),
  }))), WCAG_AA);
  for (const violation of violations) problems.push(`${name}: axe ${violation.id}: ${violation.targets.join(' | ')}`);
}

/** Fails on page errors, console errors and HTTP errors nobody expected. */
function watch(page, who) {
  page.on('pageerror', (error) => problems.push(`${who}: uncaught ${error.name}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // The browser logs every HTTP error response as a console error; those are judged below.
    if (/^Failed to load resource/.test(message.text())) return;
    problems.push(`${who}: console error: ${message.text()}`);
  });
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (response.status() >= 400 && !expectedErrors.has(response.status() + ' ' + url.pathname)) {
      problems.push(`${who}: HTTP ${response.status()} for ${response.request().method()} ${url.pathname}`);
    }
  });
  page.on('requestfailed', (request) => problems.push(`${who}: request failed: ${request.url()} ${request.failure()?.errorText}`));
  return page;
}

async function call(method, path, body) {
  const response = await fetch(BASE + path, {
    method,
    headers: { Authorization: 'Bearer ' + ADMIN, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function stats() {
  const answer = await call('GET', `/v1/events/${EVENT}/stats`);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  // On sale soon, so the buyer sees the countdown and the lobby; one buyer
  // shopping at a time, admitted slowly, so the second one really waits.
  const onSale = new Date(Date.now() + 15000);
  const created = await call('POST', '/v1/events', {
    id: EVENT,
    name: 'Les Cowboys Fringants — test du navigateur',
    venue: 'Amphithéâtre Cogeco, Trois-Rivières',
    starts_at: '2099-08-30T23:30:00Z',
    on_sale_at: onSale.toISOString().replace(/\.\d+Z$/, 'Z'),
    currency: 'CAD',
    tiers: [
      { id: 'parterre', name: 'Parterre', price_cents: 14950 },
      { id: 'pelouse', name: 'Pelouse', price_cents: 7950 },
    ],
    sections: [
      {
        id: 'A', name: 'Parterre A', tier: 'parterre',
        rows: [{ id: '1', seats: 12 }, { id: '2', seats: 14, first: 101, accessible: [114], companion: [113] }],
        seating: { front: [200, 90], angle_deg: 0, seat_spacing: 10, row_spacing: 12, curve_radius: 200 },
      },
      { id: 'PELOUSE', name: 'Pelouse', tier: 'pelouse', capacity: 300, shape: [[30, 150], [370, 150], [370, 290], [30, 290]] },
    ],
    per_buyer_limit: 4,
    hold_ttl_s: 600,
    room: { admit_per_minute: ADMIT_PER_MINUTE, max_active: 1, access_ttl_s: 900 },
    hall: { width: 400, height: 300, stage: { label: 'Scène', shape: [[120, 10], [280, 10], [280, 45], [120, 45]] } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
});

after(async () => {
  await browser?.close();
});

afterEach(() => {
  const found = problems.splice(0);
  assert.deepEqual(found, [], 'no JavaScript error, console error or unexpected HTTP error');
});

test('the event list shows the event and searches by name', async () => {
  const context = await browser.newContext({ viewport: { width: 1024, height: 768 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'list');
  await page.goto(BASE + '/');
  await page.getByText('Les Cowboys Fringants').first().waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
  await page.fill('#q', 'no such show anywhere');
  await page.click('#search button[type=submit]');
  await page.locator('#count', { hasText: 'No event matches' }).waitFor();
  await page.fill('#q', 'cowboys');
  await page.click('#search button[type=submit]');
  await page.locator('#events li').first().waitFor();
  assert.equal(await page.locator('#events li').count(), 1);
  await screenshot(page, 'event-list');
  // The language switch, remembered across a reload.
  await page.click('#lang-switch');
  await page.getByRole('heading', { name: 'Événements en vente' }).waitFor();
  await page.reload();
  await page.getByRole('heading', { name: 'Événements en vente' }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
  await page.click('#lang-switch');
  await page.getByRole('heading', { name: 'Events on sale' }).waitFor();
  await context.close();
});

test('a buyer on a 320 px phone sees the countdown, joins the lobby, waits, and is admitted', async () => {
  buyer.context = await browser.newContext({
    viewport: { width: 320, height: 640 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, locale: 'en-CA',
  });
  const page = watch(await buyer.context.newPage(), 'buyer');
  buyer.page = page;
  await page.goto(`${BASE}/e/${EVENT}`);
  await page.locator('#intro-countdown').waitFor();
  await page.getByRole('button', { name: 'Join the lobby' }).waitFor();
  await screenshot(page, 'phone-countdown');
  await page.getByRole('button', { name: 'Join the lobby' }).click();
  await page.locator('#queue-state', { hasText: 'lobby' }).waitFor();
  await page.locator('#v-queue').getByText('refreshing or closing this tab does not lose it').waitFor();
  await screenshot(page, 'phone-lobby');
  // At the opening the lottery puts the lobby in order; then the room admits at 12 a minute.
  // The first poll after the opening normally lands within the first
  // admission's 5 s; a machine slowed down by other work may see it later.
  await page.locator('#queue-figures:visible, #v-seats:visible').first().waitFor({ timeout: 30000 });
  if (await page.locator('#queue-figures').isVisible()) {
    assert.match(await page.locator('#q-position').textContent(), /^\d+$/);
    await screenshot(page, 'phone-waiting');
  }
  await page.locator('#v-seats').waitFor({ timeout: 30000 });
  await page.locator('#hall svg').waitFor();
  await page.locator('button.seat').first().waitFor();
  await screenshot(page, 'phone-seat-map');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 320, `the page fits 320 px without scrolling sideways (it is ${width} px wide)`);

  // On the drawn hall: a tap on a seat too small to aim at zooms in there;
  // the next one picks it, and the list of its row says so too.
  const seat = page.locator('#hall [data-key="A|2|108"]');
  const tap = async () => {
    await page.locator('#hall').scrollIntoViewIfNeeded();
    const box = await seat.boundingBox();
    await page.touchscreen.tap(box.x + box.width / 2, box.y + box.height / 2);
  };
  const before = (await seat.boundingBox()).width;
  await tap();
  assert.ok((await seat.boundingBox()).width > before * 1.5, 'the first tap zooms in');
  assert.equal(await seat.getAttribute('class'), 'seat-dot free tier-0', 'the first tap picks nothing');
  await tap();
  assert.equal(await seat.getAttribute('class'), 'seat-dot selected');
  assert.equal(await page.locator('#pick-row').inputValue(), '2', 'the list follows the map to the row');
  assert.equal(await page.locator('button.seat[data-key="A|2|108"]').getAttribute('aria-pressed'), 'true');
  assert.equal(await page.locator('#hold-selected').textContent(), 'Hold the 1 selected seat(s)');
  // The accessible seat is marked on the map and named in the list.
  assert.equal(await page.locator('#hall rect[data-key="A|2|114"]').count(), 1);
  assert.match(await page.locator('button.seat[data-key="A|2|114"]').getAttribute('aria-label'), /wheelchair accessible$/);
  // Nothing covers the map: the hold button sits below it.
  const hall = await page.locator('#hall').boundingBox();
  const holdBar = await page.locator('#hold-selected').boundingBox();
  assert.ok(holdBar.y >= hall.y + hall.height, 'the hold button is below the map');
  await screenshot(page, 'phone-seat-picked-on-the-hall');
  await tap();
  assert.equal(await seat.getAttribute('class'), 'seat-dot free tier-0', 'a second tap lets it go');
  await page.getByRole('button', { name: 'Whole hall' }).click();
});

test('a second buyer who reloads mid-queue keeps the place (in French)', async () => {
  second.context = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: 'fr-CA' });
  const page = watch(await second.context.newPage(), 'second buyer');
  second.page = page;
  await page.goto(`${BASE}/e/${EVENT}`);
  assert.equal(await page.locator('html').getAttribute('lang'), 'fr');
  await page.getByRole('button', { name: 'Entrer dans la file' }).click();
  // One buyer shops at a time: this one waits behind the first.
  await page.locator('#queue-figures').waitFor();
  const position = await page.locator('#q-position').textContent();
  assert.equal(position, '1');
  const token = await page.evaluate((id) => JSON.parse(localStorage.getItem('guichet.e.' + id)).queueToken, EVENT);
  const before = await stats();
  assert.equal(before.queue.waiting, 1);
  await page.locator('#v-queue').getByText('Votre place est gardée dans ce navigateur').waitFor();
  await screenshot(page, 'second-waiting-fr');

  const polled = page.waitForResponse((r) => r.url().endsWith('/queue/status') && r.status() === 200, { timeout: 30000 });
  await page.reload();
  await polled;
  await page.locator('#q-position', { hasText: position }).waitFor();
  const tokenAfter = await page.evaluate((id) => JSON.parse(localStorage.getItem('guichet.e.' + id)).queueToken, EVENT);
  assert.equal(tokenAfter, token, 'the same place: the queue token kept in the browser');
  const afterReload = await stats();
  assert.equal(afterReload.queue.waiting, before.queue.waiting, 'nobody new joined');
  assert.equal(afterReload.queue.admitted_total + afterReload.queue.waiting + afterReload.queue.lobby,
    before.queue.admitted_total + before.queue.waiting + before.queue.lobby);
  await screenshot(page, 'second-after-reload-fr');
});

test('a failover while the second buyer waits: "reconnecting", the same token again, the place kept', async () => {
  const page = second.page;
  const path = `/v1/events/${EVENT}/queue/status`;
  const position = await page.locator('#q-position').textContent();
  const tokens = [];
  let refused = 0;
  expectedErrors.add('503 ' + path);
  // As a standby (or HAProxy with no node ready) answers while one takes over.
  await page.route('**' + path, async (route) => {
    tokens.push(route.request().headers().authorization);
    if (refused++ < 3) {
      await route.fulfill({
        status: 503,
        headers: { 'Retry-After': '1', 'Content-Type': 'application/json' },
        body: JSON.stringify({ error: { code: 'not_primary', message: 'this node is a standby', role: 'standby' } }),
      });
    } else {
      await route.continue();
    }
  });
  await page.locator('#reconnecting', { hasText: 'Reconnexion' }).waitFor({ timeout: 30000 });
  await screenshot(page, 'second-reconnecting-fr');
  await page.locator('#reconnecting').waitFor({ state: 'hidden', timeout: 30000 });
  await page.unroute('**' + path);
  expectedErrors.delete('503 ' + path);
  assert.ok(refused >= 4, 'the poll was sent again until it went through');
  assert.equal(new Set(tokens).size, 1, 'with the same queue token every time');
  await page.locator('#q-position', { hasText: position }).waitFor();
  assert.equal(await page.locator('#v-error:visible, .notice.bad:visible').count(), 0, 'never an error page');
});

test('the admitted buyer takes the best 2 seats, pays, and sees two QR codes, kept after a reload', async () => {
  const page = buyer.page;
  await page.selectOption('#best-quantity', '2');
  await page.selectOption('#best-where', 'tier:parterre');
  await page.getByRole('button', { name: 'Find the best 2' }).click();
  await page.locator('#v-checkout').waitFor();
  assert.match(await page.locator('#hold-clock').textContent(), /^\d\d:\d\d$/);
  assert.equal(await page.locator('#hold-tickets tr').count(), 3, 'two tickets and a total');
  await screenshot(page, 'phone-checkout');
  await page.fill('#pay-name', 'Karl Tremblay');
  await page.click('#pay-submit');
  await page.locator('#v-done').waitFor();
  const qr = page.locator('img.qr');
  await qr.nth(1).waitFor();
  assert.equal(await qr.count(), 2);
  await page.waitForFunction(() => Array.from(document.querySelectorAll('img.qr')).every((img) => img.complete && img.naturalWidth > 0));
  await screenshot(page, 'phone-tickets');
  await page.emulateMedia({ media: 'print' });
  await screenshot(page, 'phone-tickets-print');
  await page.emulateMedia({ media: 'screen' });

  const figures = await stats();
  assert.equal(figures.orders, 1);
  assert.equal(figures.revenue_cents, 2 * 14950);
  await page.reload();
  await page.locator('#v-done').waitFor();
  await page.waitForFunction(() => document.querySelectorAll('img.qr').length === 2 && Array.from(document.querySelectorAll('img.qr')).every((img) => img.complete && img.naturalWidth > 0));
});

test('the promoter changes the admission rate, pauses, resumes, and copies the event; the dashboard follows', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'promoter');
  await page.goto(BASE + '/admin');
  await page.fill('#token', ADMIN);
  await page.click('#login button[type=submit]');
  await page.selectOption('#event-select', EVENT);
  await page.getByRole('button', { name: 'Open the dashboard' }).click();
  await page.locator('#s-rate', { hasText: String(ADMIT_PER_MINUTE) }).waitFor();
  await page.locator('#s-orders', { hasText: '1' }).waitFor();
  await page.locator('#orders tbody tr').first().waitFor();
  await screenshot(page, 'dashboard');
  await page.fill('#c-rate', '30');
  await page.click('#c-apply');
  await page.locator('#message', { hasText: 'Saved: 30 per minute' }).waitFor();
  await page.locator('#s-rate', { hasText: '30' }).waitFor();
  const figures = await stats();
  assert.equal(figures.admission.admit_per_minute, 30);
  // The next automatic refresh still shows it.
  const refreshed = page.waitForResponse((r) => r.url().endsWith('/stats'), { timeout: 10000 });
  await refreshed;
  await page.locator('#s-rate', { hasText: '30' }).waitFor();
  await screenshot(page, 'dashboard-rate-changed');
  await page.getByRole('button', { name: 'Pause the sale' }).click();
  await page.locator('#s-paused', { hasText: 'Paused' }).waitFor();
  assert.equal((await stats()).admission.paused, true);
  await page.getByRole('button', { name: 'Resume the sale' }).click();
  await page.locator('#s-paused', { hasText: 'Running' }).waitFor();
  assert.equal((await stats()).admission.paused, false);

  // A new event, copied from this one as a template.
  await page.getByRole('button', { name: 'New event' }).click();
  await page.selectOption('#template', EVENT);
  await page.getByRole('button', { name: 'Copy', exact: true }).click();
  await page.waitForFunction((id) => document.getElementById('f-id').value === id + '-copy', EVENT);
  await page.fill('#f-name', 'Les Cowboys Fringants — supplémentaire');
  await screenshot(page, 'create-from-template');
  await page.getByRole('button', { name: 'Create the event' }).click();
  await page.locator('#message', { hasText: `Event ${EVENT}-copy created.` }).waitFor();
  await page.getByRole('heading', { name: 'Les Cowboys Fringants — supplémentaire' }).waitFor();
  const copy = await call('GET', `/v1/events/${EVENT}-copy`);
  assert.equal(copy.status, 200);
  const original = await call('GET', `/v1/events/${EVENT}`);
  assert.deepEqual(copy.body.sections, original.body.sections);
  assert.deepEqual(copy.body.tiers, original.body.tiers);
  assert.equal(copy.body.room.admit_per_minute, 30, 'the room as it is now');
  await context.close();
});

test('the second buyer, admitted in turn, picks seats on the map, holds them, and releases them', async () => {
  const page = second.page;
  // The first buyer's purchase freed the one shopping place.
  await page.locator('#v-seats').waitFor({ timeout: 30000 });
  await page.locator('button.seat').first().waitFor();
  // By keyboard, through the section and row lists.
  await page.selectOption('#pick-section', 'A');
  await page.selectOption('#pick-row', '1');
  assert.ok(await page.locator('button.seat[data-key="A|1|6"]').isDisabled(), 'a sold seat cannot be picked');
  assert.equal(await page.locator('#hall [data-key="A|1|6"]').getAttribute('class'), 'seat-dot taken');
  await page.selectOption('#pick-row', '2');
  await page.locator('button.seat[data-key="A|2|101"]').focus();
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.key), 'A|2|101', 'the keyboard stays on the seat');
  await page.click('button.seat[data-key="A|2|102"]');
  assert.equal(await page.locator('button.seat[data-key="A|2|101"]').getAttribute('aria-pressed'), 'true');
  assert.equal(await page.locator('#hall [data-key="A|2|101"]').getAttribute('class'), 'seat-dot selected', 'the map follows the list');
  await screenshot(page, 'second-seats-picked-fr');
  await page.getByRole('button', { name: 'Réserver les 2 place(s) choisie(s)' }).click();
  await page.locator('#v-checkout').waitFor();
  await page.locator('#hold-tickets', { hasText: 'rangée 2, siège 101' }).waitFor();
  await page.locator('#hold-tickets', { hasText: 'rangée 2, siège 102' }).waitFor();
  assert.equal((await stats()).inventory.total.held, 2);
  await page.getByRole('button', { name: 'Libérer ces places' }).click();
  await page.locator('#v-seats').waitFor();
  await page.locator('button.seat[data-key="A|2|101"]:not([disabled])').waitFor();
  assert.equal((await stats()).inventory.total.held, 0);
});

test('a buyer can leave the queue for good', async () => {
  const context = await browser.newContext({ viewport: { width: 360, height: 740 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'leaving buyer');
  await page.goto(`${BASE}/e/${EVENT}`);
  await page.getByRole('button', { name: 'Join the queue' }).click();
  await page.locator('#queue-figures').waitFor();
  const before = await stats();
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByRole('button', { name: 'Leave the queue' }).click();
  await page.locator('#queue-state', { hasText: 'You left the queue' }).waitFor();
  await page.getByRole('button', { name: 'Join again' }).waitFor();
  const after = await stats();
  assert.equal(after.queue.waiting, before.queue.waiting - 1);
  assert.equal(after.queue.abandoned, before.queue.abandoned + 1);
  await screenshot(page, 'left-the-queue');
  await context.close();
});

test('the promoter finds the order by its payment reference and cancels it', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'promoter');
  // The token is kept for the tab only: a new context signs in again.
  await page.goto(`${BASE}/admin#${EVENT}`);
  await page.fill('#token', ADMIN);
  await page.click('#login button[type=submit]');
  await page.locator('#orders tbody tr').first().waitFor();
  const reference = await buyer.page.evaluate((id) => JSON.parse(localStorage.getItem('guichet.e.' + id)).order.payment_ref, EVENT);
  // The server searches: the list shows what it found.
  await page.fill('#order-search', 'no-such-reference');
  await page.waitForFunction(() => document.querySelectorAll('#orders tbody tr').length === 0);
  await page.fill('#order-search', reference.slice(0, 12));
  await page.waitForFunction(() => document.querySelectorAll('#orders tbody tr').length === 1);
  // The search's orders as a CSV file.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download as CSV' }).click()]);
  assert.equal(download.suggestedFilename(), `${EVENT}-orders.csv`);
  const csv = (await readFile(await download.path(), 'utf8')).trim().split('\n');
  assert.equal(csv[0], 'order_id,status,created_at,cancelled_at,payment_ref,tickets,places,total_cents,currency,personal_data');
  assert.equal(csv.length, 2, 'the one order found');
  assert.match(csv[1], new RegExp(',confirmed,.*,' + reference + ',2,'));
  page.once('dialog', (dialog) => dialog.accept());
  await page.getByRole('button', { name: 'Cancel' }).click();
  await page.locator('#orders tbody tr', { hasText: 'cancelled' }).waitFor();
  await page.locator('#s-orders', { hasText: '0' }).waitFor();
  const figures = await stats();
  assert.equal(figures.orders, 0);
  assert.equal(figures.inventory.total.sold, 0);
  await screenshot(page, 'dashboard-order-cancelled');
  await context.close();
  // The buyer, still within the shopping time, sees it on reload.
  await buyer.page.reload();
  await buyer.page.locator('#done-thanks', { hasText: 'This order was cancelled.' }).waitFor();
});

test('the emailed order link shows and prints the tickets in a fresh browser after the access expired', async () => {
  const id = EVENT + '-link';
  const accessS = 20;
  const created = await call('POST', '/v1/events', {
    id, name: 'Les Trois Accords — le lien', venue: 'Le Capitole, Québec',
    starts_at: '2099-05-01T00:30:00Z', on_sale_at: '2026-01-01T00:00:00Z', currency: 'CAD',
    payment: { provider: 'test' },
    tiers: [{ id: 'parterre', name: 'Parterre', price_cents: 6500 }],
    sections: [{ id: 'A', name: 'Parterre A', tier: 'parterre', rows: [{ id: '1', seats: 10 }] }],
    per_buyer_limit: 4, hold_ttl_s: 600, room: { admit_per_minute: 60000, max_active: 10, access_ttl_s: accessS },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));

  // Buy in one browser, with its shopping time short.
  const buying = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-CA' });
  const shop = watch(await buying.newPage(), 'link buyer');
  await shop.goto(`${BASE}/e/${id}`);
  await shop.getByRole('button', { name: 'Join the queue' }).click();
  await shop.locator('#v-seats').waitFor({ timeout: 30000 });
  await shop.selectOption('#best-quantity', '2');
  await shop.selectOption('#best-where', 'tier:parterre');
  await shop.getByRole('button', { name: 'Find the best 2' }).click();
  await shop.locator('#v-checkout').waitFor();
  await shop.fill('#pay-name', 'Alex Martel');
  await shop.fill('#pay-email', 'alex.martel@example.org');
  await shop.click('#pay-submit');
  await shop.waitForURL(/\/pay\/test\/pay_[0-9a-f]{32}\?e=/);
  await shop.click('#pay-now');
  await shop.locator('#v-done').waitFor();
  const link = await shop.locator('#order-link').getAttribute('href');
  assert.match(link, /^\/o\/o[0-9a-f]+-[0-9a-f]+#t=[A-Za-z0-9_-]{56}\.[A-Za-z0-9_-]{43}$/, 'the buyer page links to the order page');
  const kept = await shop.evaluate(() => Object.keys(localStorage)
    .map((key) => { try { return JSON.parse(localStorage.getItem(key)); } catch (e) { return null; } })
    .find((value) => value && value.accessToken));
  assert.ok(kept && kept.accessExpiresAt, 'the buyer page kept its access');
  await buying.close();

  // Wait out the access: the access token no longer reads the order.
  const orderId = link.slice(3).split('#')[0];
  const ends = Date.parse(kept.accessExpiresAt);
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, ends - Date.now()) + 1000));
  const withAccess = await fetch(`${BASE}/v1/orders/${orderId}`, { headers: { Authorization: 'Bearer ' + kept.accessToken } });
  assert.equal(withAccess.status, 401, 'the access is over');

  // A fresh browser (nothing stored) opens the link the confirmation email brought.
  const emailed = await emailedLink('alex.martel@example.org', 'Your tickets for');
  assert.equal(emailed, BASE + link, 'the email carries the same link as the page');
  const fresh = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-CA', acceptDownloads: true });
  const page = watch(await fresh.newPage(), 'order link');
  assert.equal(await page.evaluate(() => localStorage.length).catch(() => 0), 0);
  await page.goto(emailed);
  await page.locator('#v-order').waitFor();
  await page.getByRole('heading', { name: 'Les Trois Accords — le lien' }).waitFor();
  const tickets = page.locator('article.ticket');
  assert.equal(await tickets.count(), 2);
  for (let i = 0; i < 2; i++) {
    assert.match(await tickets.nth(i).locator('.place').textContent(), /^Section Parterre A, row 1, seat \d+$/);
    assert.match(await tickets.nth(i).locator('.price').textContent(), /^Parterre — .*65/);
  }
  await page.waitForFunction(() => Array.from(document.querySelectorAll('img.qr')).length === 2
    && Array.from(document.querySelectorAll('img.qr')).every((img) => img.complete && img.naturalWidth > 0));
  assert.match(await page.locator('#order-status').textContent(), /Confirmed/);
  await screenshot(page, 'order-link');

  // Add to calendar: the .ics of the order.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#calendar')]);
  assert.equal(download.suggestedFilename(), orderId + '.ics');
  const ics = await readFile(await download.path(), 'utf8');
  assert.match(ics, /BEGIN:VCALENDAR/);
  assert.ok(ics.includes(`UID:${orderId}@guichet`), ics);
  assert.ok(ics.includes('DTSTART:20990501T003000Z'), ics);

  // The tickets as a PDF: one page per ticket.
  const [pdfDownload] = await Promise.all([page.waitForEvent('download'), page.click('#tickets-pdf')]);
  assert.equal(pdfDownload.suggestedFilename(), orderId + '-tickets.pdf');
  const pdfFile = (await readFile(await pdfDownload.path())).toString('latin1');
  assert.ok(pdfFile.startsWith('%PDF-'), pdfFile.slice(0, 16));
  assert.equal((pdfFile.match(/\/Type\s*\/Page(?!s)/g) || []).length, 2, 'a page per ticket');

  // Print: the tickets, and none of the page's chrome.
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('header.top').isVisible(), false);
  assert.equal(await page.locator('#print').isVisible(), false);
  assert.equal(await page.locator('#calendar').isVisible(), false);
  assert.equal(await page.locator('#tickets-pdf').isVisible(), false);
  assert.equal(await page.locator('article.ticket:visible').count(), 2);
  assert.equal(await page.locator('img.qr:visible').count(), 2);
  await screenshot(page, 'order-link-print');
  const pdf = await page.pdf({ format: 'A4' });
  assert.ok(pdf.length > 1000, 'the tickets print');
  await page.emulateMedia({ media: 'screen' });

  // The link without its token says so, without asking the server.
  await page.goto(`${BASE}/o/${orderId}`);
  await page.locator('#refused-text', { hasText: 'incomplete' }).waitFor();
  await fresh.close();
});

/** A buyer joins, is admitted and pays one place (test provider, giving `email`) through the API: the Order. */
async function buyOne(event, email) {
  const joined = await (await fetch(`${BASE}/v1/events/${event}/queue`, { method: 'POST' })).json();
  let status = joined.status;
  while (status.state !== 'admitted') {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const polled = await fetch(`${BASE}/v1/events/${event}/queue/status`, { headers: { Authorization: 'Bearer ' + joined.queue_token } });
    if (polled.status === 200) status = await polled.json();
  }
  const buyer = { Authorization: 'Bearer ' + status.access_token, 'Content-Type': 'application/json' };
  const hold = await (await fetch(`${BASE}/v1/events/${event}/holds`, {
    method: 'POST', headers: buyer, body: JSON.stringify({ section: 'A', quantity: 1 }),
  })).json();
  const checkout = await fetch(`${BASE}/v1/holds/${hold.hold_id}/checkout`, {
    method: 'POST', headers: buyer, body: JSON.stringify({ email }),
  });
  assert.equal(checkout.status, 200);
  const payment = (await checkout.json()).payment.payment_id;
  const paid = await fetch(`${BASE}/v1/payments/${payment}/test-confirm`, { method: 'POST', headers: buyer });
  assert.equal(paid.status, 200);
  return (await paid.json()).order;
}

/** The messages the server emailed so far, parsed (headers, text, attachments). */
function mails() {
  const dir = join(MAIL_DIR, 'new');
  let files = [];
  try {
    files = readdirSync(dir).map((name) => join(dir, name));
  } catch (error) {
    return [];
  }
  if (files.length === 0) return [];
  const lines = execFileSync(SMTP_PYTHON, [PARSE_MAIL, ...files], { encoding: 'utf8' }).trim().split('\n');
  return lines.filter(Boolean).map((line) => JSON.parse(line));
}

/**
 * Waits for the email to `address` whose subject starts with `subject`, and
 * answers the link in it, on the server under test.
 */
async function emailedLink(address, subject) {
  for (let attempt = 0; attempt < 300; attempt++) {
    const mail = mails().find((m) => m.headers.to.includes(address) && m.headers.subject.startsWith(subject));
    if (mail) {
      const link = mail.text.split(/\s+/).find((word) => word.startsWith(PUBLIC_URL));
      assert.ok(link, mail.text);
      return BASE + link.slice(PUBLIC_URL.length);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`no email "${subject}…" to ${address}`);
}

test('with only the order link, a buyer cancels through the emailed confirmation, and finds a lost link', async () => {
  const id = EVENT + '-cancel';
  const created = await call('POST', '/v1/events', {
    id, name: 'Kaïn — annulable', venue: 'Salle Albert-Rousseau, Québec',
    starts_at: '2099-06-01T00:30:00Z', on_sale_at: '2026-01-01T00:00:00Z', refund_until: '2099-05-01T00:00:00Z', currency: 'CAD',
    payment: { provider: 'test' },
    tiers: [{ id: 'parterre', name: 'Parterre', price_cents: 5500 }],
    sections: [{ id: 'A', name: 'Parterre A', tier: 'parterre', rows: [{ id: '1', seats: 10 }] }],
    per_buyer_limit: 4, hold_ttl_s: 600, room: { admit_per_minute: 60000, max_active: 10, access_ttl_s: 900 },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const order = await buyOne(id, 'kim.tremblay@example.org');
  const confirmed = await emailedLink('kim.tremblay@example.org', 'Your tickets for');
  assert.equal(confirmed, BASE + order.order_url, 'the confirmation email carries the order link');

  // A fresh browser with the emailed link: the order token alone asks for the confirmation.
  const context = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'cancelling buyer');
  await page.goto(confirmed);
  await page.locator('#v-order').waitFor();
  assert.equal(await page.locator('#cancel-confirm').isVisible(), false, 'no confirmation yet');
  await page.getByRole('button', { name: 'Cancel my order' }).click();
  await page.locator('#cancel-result', { hasText: 'We emailed a confirmation' }).waitFor();
  assert.match(await page.locator('#order-status').textContent(), /Confirmed/, 'not cancelled by the request');
  await screenshot(page, 'cancel-requested');

  // The emailed link: the same page with the code; confirming cancels.
  const emailed = await emailedLink('kim.tremblay@example.org', 'Confirm the cancellation');
  assert.ok(emailed.startsWith(BASE + order.order_url + '&c='), emailed);
  await page.goto(emailed);
  await page.getByRole('button', { name: 'Confirm the cancellation' }).click();
  await page.locator('#order-status', { hasText: 'cancelled' }).waitFor();
  assert.equal(await page.locator('#cancel-box').isVisible(), false);
  await page.locator('#refund-status', { hasText: /Refund under way|Refunded/ }).waitFor();
  assert.ok(!page.url().includes('&c='), 'the used code leaves the address');
  await screenshot(page, 'cancelled-by-link');
  await context.close();

  // Find my order, on the event list: the same answer whatever is asked.
  const home = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-CA' });
  const finder = watch(await home.newPage(), 'finder');
  await finder.goto(BASE + '/');
  await finder.fill('#find-email', 'Kim.Tremblay@example.org');
  await finder.fill('#find-order', order.order_id);
  await finder.getByRole('button', { name: 'Email me the link' }).click();
  await finder.locator('#find-result', { hasText: 'If this order was bought with this address' }).waitFor();
  await screenshot(finder, 'find-my-order');
  assert.equal(await emailedLink('kim.tremblay@example.org', 'Your order for'), BASE + order.order_url, 'the link again');
  await home.close();
});

test('a sold-out event says so before anyone joins', async () => {
  const id = EVENT + '-tiny';
  const created = await call('POST', '/v1/events', {
    id, name: 'Complet d’avance', venue: 'Le Zaricot, Saint-Hyacinthe',
    starts_at: '2099-01-01T20:00:00Z', on_sale_at: '2026-01-01T00:00:00Z', currency: 'CAD',
    tiers: [{ id: 'ga', name: 'Admission générale', price_cents: 2500 }],
    sections: [{ id: 'GA', name: 'Parterre debout', tier: 'ga', capacity: 2 }],
    per_buyer_limit: 2, hold_ttl_s: 600, room: { admit_per_minute: 60000, max_active: 10, access_ttl_s: 900 },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  // One buyer takes both places through the API, as fast as the room allows.
  const joined = await (await fetch(`${BASE}/v1/events/${id}/queue`, { method: 'POST' })).json();
  let access = null;
  for (let i = 0; i < 20 && !access; i++) {
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const status = await (await fetch(`${BASE}/v1/events/${id}/queue/status`, { headers: { Authorization: 'Bearer ' + joined.queue_token } })).json();
    access = status.access_token || null;
  }
  assert.ok(access, 'admitted');
  const headers = { Authorization: 'Bearer ' + access, 'Content-Type': 'application/json' };
  const hold = await (await fetch(`${BASE}/v1/events/${id}/holds`, { method: 'POST', headers, body: JSON.stringify({ section: 'GA', quantity: 2 }) })).json();
  const bought = await fetch(`${BASE}/v1/holds/${hold.hold_id}/purchase`, {
    method: 'POST', headers: Object.assign({ 'Idempotency-Key': 'k1' }, headers), body: JSON.stringify({ payment_ref: 'e2e' }),
  });
  assert.equal(bought.status, 201);

  const context = await browser.newContext({ viewport: { width: 320, height: 640 }, locale: 'fr-CA' });
  const page = watch(await context.newPage(), 'sold out');
  await page.goto(`${BASE}/e/${id}`);
  await page.locator('#intro-closed', { hasText: 'Complet' }).waitFor();
  assert.equal(await page.locator('#join').isVisible(), false, 'no button to join a queue for nothing');
  await screenshot(page, 'sold-out-fr');
  await context.close();
});

test('an unknown event gives a page that says so', async () => {
  expectedErrors.add('404 /e/no-such-event');
  expectedErrors.add('404 /v1/events/no-such-event');
  const context = await browser.newContext({ viewport: { width: 390, height: 700 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'unknown');
  const response = await page.goto(BASE + '/e/no-such-event');
  assert.equal(response.status(), 404);
  await page.getByRole('heading', { name: 'No such event' }).waitFor();
  await screenshot(page, 'unknown-event');
  await context.close();
  await buyer.context.close();
  await second.context.close();
});

test('the admin makes a viewer token on the dashboard, the viewer reads the event with it, and the admin revokes it', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'admin');
  await page.goto(BASE + '/admin');
  await page.fill('#token', ADMIN);
  await page.click('#login button[type=submit]');
  await page.locator('#tokens').waitFor();
  await page.selectOption('#k-role', 'viewer');
  await page.fill('#k-events', EVENT);
  await page.fill('#k-label', 'Box office screen');
  await page.getByRole('button', { name: 'Make a token' }).click();
  await page.locator('#token-made').waitFor();
  const viewerToken = (await page.locator('#token-text').textContent()).trim();
  assert.match(viewerToken, /^gch_t\d+_[A-Za-z0-9_-]{43}$/);
  const row = page.locator('#token-list tbody tr', { hasText: 'Box office screen' });
  await row.waitFor();
  assert.ok((await row.textContent()).includes('viewer'));
  await screenshot(page, 'tokens');

  // The viewer signs in with it: the event's dashboard, no token section.
  expectedErrors.add('403 /v1/tokens');
  const viewerContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, locale: 'en-CA' });
  const viewer = watch(await viewerContext.newPage(), 'viewer');
  await viewer.goto(`${BASE}/admin#${EVENT}`);
  await viewer.fill('#token', viewerToken);
  await viewer.click('#login button[type=submit]');
  await viewer.locator('#s-rate').filter({ hasNotText: '–' }).waitFor();
  assert.equal(await viewer.locator('#tokens').isVisible(), false);
  await viewerContext.close();

  page.once('dialog', (dialog) => dialog.accept());
  await row.getByRole('button', { name: 'Revoke' }).click();
  await page.locator('#message', { hasText: 'revoked' }).waitFor();
  await page.locator('#token-list tbody tr', { hasText: 'Box office screen' }).filter({ hasText: 'revoked' }).waitFor();
  const refused = await fetch(`${BASE}/v1/events/${EVENT}/stats`, { headers: { Authorization: 'Bearer ' + viewerToken } });
  assert.equal(refused.status, 401);
  await context.close();
});

test('a buyer of an event paid through the test provider pays on the test page and gets the tickets', async () => {
  const paid = EVENT + '-paid';
  const created = await call('POST', '/v1/events', {
    id: paid, name: 'Test provider — navigateur', venue: 'Salle test',
    starts_at: '2099-08-30T23:30:00Z', on_sale_at: '2026-01-01T00:00:00Z', currency: 'CAD',
    tiers: [{ id: 'pelouse', name: 'Pelouse', price_cents: 7950 }],
    sections: [{ id: 'PELOUSE', name: 'Pelouse', tier: 'pelouse', capacity: 50 }],
    per_buyer_limit: 4, hold_ttl_s: 600,
    room: { admit_per_minute: 6000, max_active: 100, access_ttl_s: 900 },
    payment: { provider: 'test' },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const context = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'payer');
  await page.goto(`${BASE}/e/${paid}`);
  await page.locator('#join').click();
  await page.locator('#v-seats').waitFor({ timeout: 30000 });
  await page.selectOption('#best-quantity', '2');
  await page.locator('#best button[type=submit]').click();
  await page.locator('#v-checkout').waitFor();
  await page.fill('#pay-name', 'Karl Tremblay');
  await page.fill('#pay-email', 'karl.tremblay@example.org');
  await page.click('#pay-submit');
  await page.waitForURL(/\/pay\/test\/pay_[0-9a-f]{32}\?e=/);
  await page.locator('#pay-amount', { hasText: '159' }).waitFor();
  await screenshot(page, 'test-payment-page');
  await page.click('#pay-now');
  await page.waitForURL(new RegExp(`/e/${paid}$`));
  await page.locator('#v-done').waitFor();
  assert.equal(await page.locator('img.qr').count(), 2);
  const figures = await call('GET', `/v1/events/${paid}/stats`);
  assert.equal(figures.body.orders, 1);
  const orders = await call('GET', `/v1/events/${paid}/orders`);
  assert.equal(orders.body.orders[0].personal_data, 'kept', 'the email and name went with the checkout');
  await context.close();
});

/** Stripe's PaymentIntent once paid in full: it must name the payment's intent, amount and currency. */
function succeededIntent(intent, payment) {
  return {
    id: intent, object: 'payment_intent', status: 'succeeded',
    amount: payment.amount_cents, amount_received: payment.amount_cents, currency: payment.currency.toLowerCase(),
    metadata: { payment_id: payment.payment_id },
  };
}

/** Posts a provider's webhook delivery, signed as Stripe signs: `t=<time>,v1=HMAC-SHA256(secret, "<time>.<body>")`. */
async function deliverWebhook(delivery) {
  const body = JSON.stringify(delivery);
  const time = Math.floor(Date.now() / 1000);
  const signature = createHmac('sha256', WEBHOOK_SECRET).update(`${time}.${body}`).digest('hex');
  const response = await fetch(BASE + '/v1/payments/webhook', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Stripe-Signature': `t=${time},v1=${signature}` },
    body,
  });
  return { status: response.status, body: await response.json() };
}

test('a buyer of an event paid through Stripe pays in the card form, after a declined card, and gets the tickets', async () => {
  assert.ok(WEBHOOK_SECRET, 'STRIPE_WEBHOOK_SECRET is set (run.sh sets it)');
  const id = EVENT + '-card';
  const created = await call('POST', '/v1/events', {
    id, name: 'Stripe — navigateur', venue: 'Salle carte',
    starts_at: '2099-08-30T23:30:00Z', on_sale_at: '2026-01-01T00:00:00Z', currency: 'CAD',
    tiers: [{ id: 'pelouse', name: 'Pelouse', price_cents: 7950 }],
    sections: [{ id: 'PELOUSE', name: 'Pelouse', tier: 'pelouse', capacity: 50 }],
    per_buyer_limit: 4, hold_ttl_s: 600,
    room: { admit_per_minute: 6000, max_active: 100, access_ttl_s: 900 },
    payment: { provider: 'stripe' },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const context = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'card payer');
  // No network here: Stripe.js is the fixture. The page's Content-Security-Policy must still let it in.
  const stripeJs = await readFile(new URL('./fixtures/stripe-v3.js', import.meta.url), 'utf8');
  const stripeLoads = [];
  await page.route('https://js.stripe.com/**', (route) => {
    stripeLoads.push(route.request().url());
    return route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: stripeJs });
  });
  await page.goto(`${BASE}/e/${id}`);
  await page.locator('#join').click();
  await page.locator('#v-seats').waitFor({ timeout: 30000 });
  assert.deepEqual(stripeLoads, [], 'Stripe.js is loaded only for the checkout');
  await page.selectOption('#best-quantity', '2');
  await page.locator('#best button[type=submit]').click();
  await page.locator('#v-checkout').waitFor();
  await page.fill('#pay-name', 'Karl Tremblay');
  await page.click('#pay-submit');
  await page.locator('#card-box .fake-payment-element').waitFor();
  assert.deepEqual(stripeLoads, ['https://js.stripe.com/v3/']);
  const fake = () => page.evaluate(() => JSON.parse(JSON.stringify(window.fakeStripe)));
  const mounted = await fake();
  assert.deepEqual(mounted.keys, ['pk_test_e2e'], 'Stripe.js gets the publishable key from checkout');
  assert.equal(mounted.clientSecrets.length, 1);
  const secret = mounted.clientSecrets[0];
  assert.match(secret, /^pi_e2e_\d+_secret_e2e$/);
  assert.equal(await page.locator('#pay-submit').isDisabled(), false);
  await screenshot(page, 'card-form');

  // A declined card: Stripe's words on the page, and the button works again.
  await page.evaluate(() => { window.fakeStripe.declineNext = true; });
  await page.click('#pay-submit');
  await page.locator('#problem', { hasText: 'Your card was declined.' }).waitFor();
  assert.equal(await page.locator('#pay-submit').isDisabled(), false);
  assert.equal(await page.locator('#v-checkout').isVisible(), true);
  await screenshot(page, 'card-declined');

  // Accepted: the page waits for the provider's word, which the webhook brings.
  await page.click('#pay-submit');
  await page.locator('#card-status', { hasText: 'Waiting for the confirmation' }).waitFor();
  const { confirms } = await fake();
  assert.equal(confirms.length, 2);
  assert.deepEqual(confirms[1], { clientSecret: secret, redirect: 'if_required', returnUrl: `${BASE}/e/${id}` });
  const payment = await page.evaluate((key) => JSON.parse(localStorage.getItem(key)).payment, 'guichet.e.' + id);
  const paymentId = payment.payment_id;
  const intent = secret.split('_secret_')[0];
  const delivered = await deliverWebhook({
    id: 'evt_e2e_' + Date.now(), type: 'payment_intent.succeeded',
    data: { object: succeededIntent(intent, payment) },
  });
  assert.deepEqual([delivered.status, delivered.body.outcome], [200, 'ordered'], JSON.stringify(delivered.body));
  await page.locator('#v-done').waitFor();
  assert.equal(await page.locator('img.qr').count(), 2);
  await screenshot(page, 'card-paid');
  const order = await page.evaluate((key) => JSON.parse(localStorage.getItem(key)).order, 'guichet.e.' + id);
  assert.equal(order.payment_ref, paymentId, 'the order is the payment\'s');
  const figures = await call('GET', `/v1/events/${id}/stats`);
  assert.equal(figures.body.orders, 1);
  await context.close();
});

test('back from the bank\'s own page, the card payment\'s order appears once the provider confirms', async () => {
  const id = EVENT + '-card';
  const context = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-CA' });
  const page = watch(await context.newPage(), 'card payer back from the bank');
  const stripeJs = await readFile(new URL('./fixtures/stripe-v3.js', import.meta.url), 'utf8');
  await page.route('https://js.stripe.com/**', (route) => route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: stripeJs }));
  await page.goto(`${BASE}/e/${id}`);
  await page.locator('#join').click();
  await page.locator('#v-seats').waitFor({ timeout: 30000 });
  await page.selectOption('#best-quantity', '1');
  await page.locator('#best button[type=submit]').click();
  await page.locator('#v-checkout').waitFor();
  await page.fill('#pay-name', 'Marie-Annick Lépine');
  await page.click('#pay-submit');
  await page.locator('#card-box .fake-payment-element').waitFor();
  const secret = await page.evaluate(() => window.fakeStripe.clientSecrets[0]);
  const intent = secret.split('_secret_')[0];
  // A bank that needs its own page: Stripe brings the buyer back with the outcome in the query.
  await page.goto(`${BASE}/e/${id}?payment_intent=${intent}&payment_intent_client_secret=${secret}&redirect_status=succeeded`);
  await page.locator('#card-status', { hasText: 'Waiting for the confirmation' }).waitFor();
  assert.equal(new URL(page.url()).search, '', 'the address is cleaned');
  const payment = await page.evaluate((key) => JSON.parse(localStorage.getItem(key)).payment, 'guichet.e.' + id);
  const delivered = await deliverWebhook({
    id: 'evt_e2e_back_' + Date.now(), type: 'payment_intent.succeeded',
    data: { object: succeededIntent(intent, payment) },
  });
  assert.deepEqual([delivered.status, delivered.body.outcome], [200, 'ordered'], JSON.stringify(delivered.body));
  await page.locator('#v-done').waitFor();
  assert.equal(await page.locator('img.qr').count(), 1);
  await context.close();
});

/** A buyer of `event` (on sale, admitting at once) buys one place through the API: the order. */
async function orderThroughApi(event) {
  const joined = await fetch(`${BASE}/v1/events/${event}/queue`, { method: 'POST' }).then((r) => r.json());
  let status = joined.status;
  while (status.state !== 'admitted') {
    await new Promise((resolve) => setTimeout(resolve, status.poll_after_ms || 1000));
    status = await fetch(`${BASE}/v1/events/${event}/queue/status`, { headers: { Authorization: 'Bearer ' + joined.queue_token } }).then((r) => r.json());
  }
  const buyerCall = (method, path, body, headers) => fetch(BASE + path, {
    method,
    headers: Object.assign({ Authorization: 'Bearer ' + status.access_token, 'Content-Type': 'application/json' }, headers || {}),
    body: JSON.stringify(body),
  }).then((r) => r.json());
  const hold = await buyerCall('POST', `/v1/events/${event}/holds`, { section: 'GA', quantity: 1 });
  return buyerCall('POST', `/v1/holds/${hold.hold_id}/purchase`, { payment_ref: 'door-test' }, { 'Idempotency-Key': 'k-' + hold.hold_id });
}

test('at the door a ticket is let in then already used, a cancelled one is refused, and a scan without network is sent later', async () => {
  const id = EVENT + '-door';
  const created = await call('POST', '/v1/events', {
    id, name: 'La porte — test du navigateur', venue: 'Amphithéâtre Cogeco', starts_at: '2099-08-30T23:30:00Z',
    on_sale_at: '2026-01-01T00:00:00Z', currency: 'CAD',
    tiers: [{ id: 'pelouse', name: 'Pelouse', price_cents: 7950 }],
    sections: [{ id: 'GA', name: 'Pelouse', tier: 'pelouse', capacity: 50 }],
    per_buyer_limit: 4, hold_ttl_s: 600, room: { admit_per_minute: 60000, max_active: 100, access_ttl_s: 900 },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const orders = [];
  for (let i = 0; i < 4; i++) orders.push(await orderThroughApi(id));
  const code = (order) => order.tickets[0].code;
  const token = await call('POST', '/v1/tokens', { role: 'door', events: [id], label: 'North gate' });
  assert.equal(token.status, 201, JSON.stringify(token.body));
  for (const status of [409, 410]) expectedErrors.add(`${status} /v1/events/${id}/checkins`);

  const context = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-CA' });
  const page = await context.newPage();
  // Its own watch: a check-in sent without network fails by design.
  page.on('pageerror', (error) => problems.push(`door: uncaught ${error.name}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && !/^Failed to load resource/.test(message.text())) problems.push(`door: console error: ${message.text()}`);
  });
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (response.status() >= 400 && !expectedErrors.has(response.status() + ' ' + url.pathname)) {
      problems.push(`door: HTTP ${response.status()} for ${response.request().method()} ${url.pathname}`);
    }
  });
  await page.goto(`${BASE}/door/${id}`);
  await screenshot(page, 'door-sign-in');
  await page.fill('#door-token', token.body.token);
  await page.fill('#door-name', 'North gate');
  await page.click('#door-form button[type=submit]');
  await page.locator('#code-input').waitFor();
  const scan = async (text) => {
    await page.fill('#code-input', text);
    await page.click('#code-form button[type=submit]');
  };

  await scan(code(orders[0]));
  await page.locator('#verdict.good', { hasText: 'LET IN' }).waitFor();
  await screenshot(page, 'door-let-in');
  await scan(code(orders[0]));
  await page.locator('#verdict.bad', { hasText: 'Already used' }).waitFor();
  assert.match(await page.locator('#verdict').textContent(), /North gate/);
  await screenshot(page, 'door-already-used');

  const cancelled = await call('POST', `/v1/orders/${orders[1].order_id}/cancel`);
  assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
  await scan(code(orders[1]));
  await page.locator('#verdict.bad', { hasText: 'Cancelled' }).waitFor();

  await context.setOffline(true);
  await scan(code(orders[2]));
  await page.locator('#verdict.good', { hasText: 'No network' }).waitFor();
  await page.locator('#door-sync', { hasText: '1 check-ins waiting' }).waitFor();
  await screenshot(page, 'door-offline');
  await context.setOffline(false);
  await page.locator('#door-sync', { hasText: 'Every check-in is saved' }).waitFor({ timeout: 15000 });
  assert.equal((await call('GET', `/v1/events/${id}/stats`)).body.checkins.total, 2, 'the scan taken without network was sent');

  // Let in twice: here without network, while South gate let the same ticket in online.
  await context.setOffline(true);
  await scan(code(orders[3]));
  await page.locator('#verdict.good', { hasText: 'No network' }).waitFor();
  const south = await call('POST', `/v1/events/${id}/checkins`, { code: code(orders[3]), door: 'South gate', scan_id: 'south-1' });
  assert.equal(south.status, 201, JSON.stringify(south.body));
  await context.setOffline(false);
  await page.locator('#conflict-list li', { hasText: 'South gate had let it in' }).waitFor({ timeout: 15000 });
  await screenshot(page, 'door-let-in-twice-here');
  await context.close();

  // South gate's steward is shown it too.
  const southContext = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-CA' });
  const southPage = watch(await southContext.newPage(), 'south door');
  await southPage.goto(`${BASE}/door/${id}`);
  await southPage.fill('#door-token', token.body.token);
  await southPage.fill('#door-name', 'South gate');
  await southPage.click('#door-form button[type=submit]');
  await southPage.locator('#conflict-list li', { hasText: 'North gate let it in again' }).waitFor({ timeout: 15000 });
  await screenshot(southPage, 'door-let-in-twice-there');
  await southContext.close();
});
