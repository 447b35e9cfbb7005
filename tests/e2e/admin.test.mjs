// The web admin (www/admin, served by sipws's admin listener at /admin/) in headless Chromium,
// against a live daemon with admin_token: signing in (a wrong token first), adding a
// subscriber from the page, watching it register from a JsSIP client without reloading (the
// events socket, or polling), seeing its call ring and be answered, ending it from the page,
// its call record (filter, CSV export), its SIP ladder (INVITE/100/180/200/ACK/BYE/200 on both
// hops, a message in full), flows, bans (lifted), gateways and routes, reload; then keyboard use
// and an accessibility sanity check of every page (labels, names, captions, landmarks), the
// theme toggle, and the page of a daemon without admin_token ("the API is disabled").
//
// SIPWS_ADMIN_SCREENSHOTS=1 (or a directory) also writes docs/screenshots/admin-<page>-<light|
// dark>.png at 1280x800 (prefers-color-scheme emulated).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../integration/lib/daemon.mjs';
import { daemonIn, sippPeer, uaIn } from '../integration/lib/fixtures.mjs';
import { kNoMedia } from '../integration/lib/jssip.mjs';
import { freePort } from '../integration/lib/ports.mjs';
import { SipClient, endpointIn } from '../integration/lib/rawsip.mjs';
import { withScope } from '../integration/lib/scope.mjs';
import { waitEvent, waitFor } from '../integration/lib/wait.mjs';
import { browserIn, kDesktopViewport } from './lib/browser.mjs';

const kToken = 'e2e-admin-token-0123456789abcdef';
const kShotsEnv = process.env.SIPWS_ADMIN_SCREENSHOTS;
const kShotsDir = kShotsEnv
  ? path.resolve(kShotsEnv === '1' ? path.join(repoRoot, 'docs', 'screenshots') : kShotsEnv)
  : null;
// Live updates: the events socket at once, else a poll every 5 s; a change shows within this.
const kLiveMs = 12000;

/**
 * The web admin of this source tree, wherever SIPWS_BIN was built (as daemon.mjs does for the
 * demo page's www_root).
 */
const kAdminRoot = `admin_www_root=${path.join(repoRoot, 'www', 'admin')}`;

/** The admin page of daemon `d`: sipws's own /admin/ on the admin listener. */
function adminUrl(d) {
  return `http://127.0.0.1:${d.ports.admin}/admin/`;
}

/** A request to the admin API from the test (to read what the page should show). */
async function api(d, method, p, token = kToken) {
  const r = await fetch(`http://127.0.0.1:${d.ports.admin}${p}`, {
    method, headers: token ? { Authorization: `Bearer ${token}` } : {},
  });
  const text = await r.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: r.status, json, text, headers: r.headers };
}

/**
 * Opens the admin page in a new browser context (its own sessionStorage). Its console is shown
 * if the test fails (page.consoleLog()).
 */
async function openAdmin(s, browser, d, { colorScheme = 'light', viewport = kDesktopViewport } = {}) {
  const context = await browser.newContext({ viewport, colorScheme, deviceScaleFactor: 1, acceptDownloads: true });
  s.defer(() => context.close());
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.stack || e.message}`));
  page.consoleLog = () => log.join('\n');
  s.log('admin page: console', page.consoleLog);
  const r = await page.goto(adminUrl(d), { timeout: 15000 });
  assert.equal(r.status(), 200, `GET /admin/ on the admin listener answered ${r.status()}: is www/admin served there?`);
  await page.locator('body[data-page="signin"], body[data-signed-in="true"]').waitFor({ timeout: 10000 });
  return page;
}

async function signIn(page, token = kToken) {
  await page.getByTestId('signin-token').fill(token);
  await page.getByTestId('signin-submit').click();
  await page.locator('body[data-signed-in="true"]').waitFor({ timeout: 10000 });
}

/** Follows the section link `name` and waits for the page's first load. */
async function openSection(page, name, id) {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name, exact: true }).click();
  await waitLoaded(page, id);
}

async function waitLoaded(page, id, ms = 10000) {
  await page.locator(`body[data-page="${id}"]:not([data-loaded="0"])`).waitFor({ timeout: ms });
}

/** The CSS selector of a string attribute value. */
const q = (v) => JSON.stringify(String(v));

/** Writes admin-<name>-light.png and -dark.png if SIPWS_ADMIN_SCREENSHOTS is set. */
async function shoot(page, name) {
  if (!kShotsDir) return;
  fs.mkdirSync(kShotsDir, { recursive: true });
  await page.addStyleTag({ content: '*, *::before, *::after { animation: none !important; transition: none !important; caret-color: transparent !important; }' });
  await page.mouse.move(0, 0);
  for (const scheme of ['light', 'dark']) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: path.join(kShotsDir, `admin-${name}-${scheme}.png`) });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/**
 * What a quick accessibility review of the page would flag (no axe in the repository): form
 * fields without a label, images and SVGs without a name (or aria-hidden), buttons and links
 * without a name, tables without a caption or with header cells without scope, missing
 * landmarks, not exactly one h1, duplicate ids. @returns a list of problems (empty = fine).
 */
function accessibilityProblems(page) {
  return page.evaluate(() => {
    const problems = [];
    const shown = (el) => !el.closest('[hidden], [aria-hidden="true"]') && el.getClientRects().length > 0;
    const byIds = (ids) => ids.split(/\s+/).map((id) => document.getElementById(id)?.textContent || '').join(' ').trim();
    const nameOf = (el) => (el.getAttribute('aria-label') || '').trim() ||
      (el.getAttribute('aria-labelledby') ? byIds(el.getAttribute('aria-labelledby')) : '') ||
      (el.labels && [...el.labels].map((l) => l.textContent).join(' ').trim()) ||
      el.textContent.trim() || (el.getAttribute('title') || '').trim();
    const what = (el) => el.outerHTML.slice(0, 120);
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden' || !shown(el)) continue;
      const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
      if (!labelled) problems.push(`a form field without a label: ${what(el)}`);
    }
    for (const el of document.querySelectorAll('img')) {
      if (!el.hasAttribute('alt')) problems.push(`an img without alt: ${what(el)}`);
    }
    for (const el of document.querySelectorAll('svg')) {
      if (el.closest('[aria-hidden="true"]')) continue;
      const named = el.getAttribute('role') === 'img' && (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') || el.querySelector('title'));
      if (!named) problems.push(`an svg without a name (role=img + aria-label or title) nor aria-hidden: ${what(el)}`);
    }
    for (const el of document.querySelectorAll('button, a[href], [role="button"]')) {
      if (!shown(el)) continue;
      if (!nameOf(el)) problems.push(`a control without a name: ${what(el)}`);
    }
    for (const t of document.querySelectorAll('table')) {
      if (!shown(t)) continue;
      if (!t.caption || !t.caption.textContent.trim()) problems.push(`a table without a caption: ${what(t)}`);
      for (const th of t.querySelectorAll('thead th')) if (th.getAttribute('scope') !== 'col') problems.push(`a column header without scope=col: ${what(th)}`);
      for (const th of t.querySelectorAll('tbody th')) if (th.getAttribute('scope') !== 'row') problems.push(`a row header without scope=row: ${what(th)}`);
      if (!t.querySelector('th')) problems.push(`a table without header cells: ${what(t)}`);
    }
    for (const sel of ['header', 'main']) if (!document.querySelector(sel)) problems.push(`no <${sel}> landmark`);
    if (document.body.dataset.signedIn === 'true' && !document.querySelector('nav[aria-label]')) problems.push('no labelled <nav>');
    const h1s = [...document.querySelectorAll('h1')].filter(shown);
    if (h1s.length !== 1) problems.push(`${h1s.length} visible h1 elements`);
    const ids = new Map();
    for (const el of document.querySelectorAll('[id]')) ids.set(el.id, (ids.get(el.id) || 0) + 1);
    for (const [id, n] of ids) if (n > 1) problems.push(`id "${id}" used ${n} times`);
    for (const el of document.querySelectorAll('[aria-labelledby], [aria-describedby], [aria-controls]')) {
      for (const attr of ['aria-labelledby', 'aria-describedby', 'aria-controls']) {
        for (const id of (el.getAttribute(attr) || '').split(/\s+/).filter(Boolean)) {
          if (!document.getElementById(id)) problems.push(`${attr} names a missing id "${id}": ${what(el)}`);
        }
      }
    }
    if (!document.querySelector('[aria-live], [role="status"], [role="alert"]')) problems.push('no live region for status messages');
    return problems;
  });
}

/** The arrows of the ladder page as {from, to, label, method, direction}. */
function ladderArrows(page) {
  return page.getByTestId('ladder-arrow').evaluateAll((els) => els.map((b) => ({
    from: b.dataset.from, to: b.dataset.to, label: b.dataset.label, method: b.dataset.method, direction: b.dataset.direction,
  })));
}

test('web admin against a live sipws: sign in, subscribers, live registrations, a call ended from the page, its record and ladder, flows, bans, gateways, reload', (t) =>
  withScope(t, async (s) => {
    const deadPort = await freePort();
    const d = await daemonIn(s, {
      extraSets: [
        kAdminRoot,
        `admin_token=${kToken}`,
        'auth_max_user_failures=2',
        `gateways=${JSON.stringify([
          { name: 'carrier-a', uri: `sip:127.0.0.1:${deadPort};transport=udp`, priority: 1, probe_interval: 2 },
          { name: 'carrier-b', uri: 'sip:127.0.0.1:5999;transport=udp', priority: 2, strip: 1, prefix: '+1' },
        ])}`,
        `routes=${JSON.stringify([{ match: '^9[0-9]{7,}$', gateways: ['carrier-a', 'carrier-b'], failover_on: [408, 503] }])}`,
      ],
      trustedPeers: [sippPeer()],
    });
    await d.addUser('bob@localhost', 'bob-pw-2');
    const browser = await browserIn(s);
    const page = await openAdmin(s, browser, d);
    let daemonTail = 0;

    /** A subtest; a failure shows the page's console and the daemon's log since the last one. */
    const step = (name, fn) => t.test(name, async () => {
      const from = daemonTail;
      daemonTail = d.stderr().length;
      try {
        await fn();
      } catch (err) {
        err.message += `\n--- admin page console ---\n${page.consoleLog().split('\n').slice(-40).join('\n')}` +
          `\n--- page ---\nbody: ${await page.evaluate(() => JSON.stringify(document.body.dataset)).catch(() => '?')}` +
          ` error: ${await page.getByTestId('error').textContent().catch(() => '?')}` +
          `\n--- sipws log of this step (tail) ---\n${d.stderr().slice(from).split('\n').slice(-120).join('\n')}`;
        throw err;
      }
    });

    await step('sign-in: a wrong token shows "wrong token", the right one opens the subscribers', async () => {
      await shoot(page, 'signin');
      await page.getByTestId('signin-token').fill('not-the-token-not-the-token');
      await page.getByTestId('signin-submit').click();
      await assert.doesNotReject(page.getByTestId('signin-error').filter({ hasText: /wrong token/i }).waitFor({ timeout: 5000 }));
      assert.equal(await page.locator('body').getAttribute('data-signed-in'), 'false');
      assert.equal(await page.getByTestId('signin-token').getAttribute('aria-invalid'), 'true');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('sipwsAdmin.token')), null, 'a wrong token is not kept');
      await signIn(page);
      await waitLoaded(page, 'subscribers');
      assert.equal(await page.evaluate(() => sessionStorage.getItem('sipwsAdmin.token')), kToken);
      assert.match(page.url(), /#\/subscribers$/);
      await page.locator('[data-testid="subscribers-table"] tr[data-aor="bob@localhost"]').waitFor({ timeout: 5000 });
    });

    const carolPw = 'carol-pw-from-the-page';
    await step('subscribers: add carol from the page; search; her page: password, group, forwarding rule, alias', async () => {
      await page.getByTestId('add-aor').fill('carol@localhost');
      await page.getByTestId('add-password').fill('first-pw');
      await page.getByTestId('add-submit').click();
      await page.getByTestId('status').filter({ hasText: 'Subscriber carol@localhost added.' }).waitFor({ timeout: 5000 });
      await page.locator('[data-testid="subscribers-table"] tr[data-aor="carol@localhost"]').waitFor({ timeout: 5000 });
      const created = await api(d, 'GET', '/api/v1/subscribers/carol@localhost');
      assert.equal(created.status, 200, 'the API has her');
      // Adding her again: the field says so.
      await page.getByTestId('add-aor').fill('carol@localhost');
      await page.getByTestId('add-password').fill('x');
      await page.getByTestId('add-submit').click();
      await page.getByText('carol@localhost exists already.').waitFor({ timeout: 5000 });
      assert.equal(await page.getByTestId('add-aor').getAttribute('aria-invalid'), 'true');
      await page.getByTestId('add-aor').fill('');
      await page.getByTestId('add-password').fill('');
      // Search.
      await page.getByTestId('subscriber-search-input').fill('CAR');
      await page.getByTestId('subscriber-search').click();
      await page.waitForURL(/#\/subscribers\?search=CAR$/);
      await waitFor(async () => (await page.locator('[data-testid="subscribers-table"] tbody tr').count()) === 1 &&
        (await page.locator('[data-testid="subscribers-table"] tr[data-aor="carol@localhost"]').count()) === 1,
      { ms: 5000, what: 'the search to keep carol alone' });
      await shoot(page, 'subscribers');
      // Her page.
      await page.getByRole('link', { name: 'carol@localhost', exact: true }).click();
      await waitLoaded(page, 'subscriber');
      assert.equal(await page.getByTestId('page-title').textContent(), 'carol@localhost');
      await page.getByTestId('new-password').fill(carolPw);
      await page.getByTestId('password-form').getByRole('button', { name: 'Change password' }).click();
      await page.getByTestId('status').filter({ hasText: 'Password of carol@localhost changed.' }).waitFor({ timeout: 5000 });
      await page.getByTestId('group-input').fill('local');
      await page.getByTestId('group-form').getByRole('button', { name: 'Add to group' }).click();
      await page.locator('[data-testid="groups"] li[data-group="local"]').waitFor({ timeout: 5000 });
      await page.getByTestId('forward-kind').selectOption('no_answer');
      await page.getByTestId('forward-target').fill('voicemail');
      await page.getByTestId('forward-timeout').fill('20');
      await page.getByTestId('forward-form').getByRole('button', { name: 'Set rule' }).click();
      await page.getByTestId('forwards').getByText('voicemail').waitFor({ timeout: 5000 });
      await page.getByTestId('alias-input').fill('+1 555 0100');
      await page.getByTestId('alias-form').getByRole('button', { name: 'Add alias' }).click();
      await page.locator('[data-testid="aliases"] li[data-alias="+15550100"]').waitFor({ timeout: 5000 });
      assert.deepEqual((await api(d, 'GET', '/api/v1/subscribers/carol@localhost/groups')).json, ['local']);
      assert.deepEqual((await api(d, 'GET', '/api/v1/subscribers/carol@localhost/forwards')).json,
        [{ kind: 'no_answer', target: 'voicemail', ring_timeout: 20 }]);
      await shoot(page, 'subscriber');
      // A bad group name: the server's 400 is shown on the field.
      await page.getByTestId('group-input').fill('a b');
      await page.getByTestId('group-form').getByRole('button', { name: 'Add to group' }).click();
      await waitFor(async () => (await page.getByTestId('group-input').getAttribute('aria-invalid')) === 'true',
        { ms: 5000, what: 'the group field marked invalid' });
      // Remove the rule and the alias again from the page.
      await page.getByRole('button', { name: 'Remove the no_answer rule' }).click();
      await page.getByTestId('forwards-empty').waitFor({ timeout: 5000 });
      await page.getByRole('button', { name: 'Remove alias +15550100' }).click();
      await page.getByTestId('aliases-empty').waitFor({ timeout: 5000 });
    });

    // carol (created and given her password from the page) registers with JsSIP over WS.
    const carolSessions = [];
    const carol = uaIn(s, { proto: 'ws', port: d.ports.ws, user: 'carol', password: carolPw });
    carol.on('newRTCSession', ({ originator, session, request }) => {
      if (originator === 'remote') carolSessions.push({ session, callId: request.call_id });
    });
    const bob = uaIn(s, { proto: 'ws', port: d.ports.ws, user: 'bob', password: 'bob-pw-2' });
    /** A REGISTER now (JsSIP emits no 'registered' when it thinks it still is): the API has the binding again. */
    const registerAgain = async (ua, aor) => {
      ua.register();
      await waitFor(async () => (await api(d, 'GET', `/api/v1/registrations?aor=${aor}`)).json.length === 1,
        { ms: 10000, what: `${aor} registered again` });
    };

    await step('registrations: carol appears without reloading the page (events socket or 5 s polling)', async () => {
      await openSection(page, 'Registrations', 'registrations');
      await page.evaluate(() => {
        window.noReloadMarker = true;
      });
      assert.equal(await page.locator('[data-testid="registrations-table"] tr[data-aor="carol@localhost"]').count(), 0);
      const registered = waitEvent(carol, 'registered', { failOn: ['registrationFailed'] });
      carol.start();
      await registered;
      const row = page.locator('[data-testid="registrations-table"] tr[data-aor="carol@localhost"]');
      await row.waitFor({ timeout: kLiveMs });
      assert.equal(await page.evaluate(() => window.noReloadMarker), true, 'the page was not reloaded');
      t.diagnostic(`live mode: ${await page.locator('body').getAttribute('data-live')}`);
      const text = await row.textContent();
      assert.match(text, /ws/);
      assert.match(text, /sipws-integration-jssip/, 'the user agent is shown');
      const bobRegistered = waitEvent(bob, 'registered', { failOn: ['registrationFailed'] });
      bob.start();
      await bobRegistered;
      await page.locator('[data-testid="registrations-table"] tr[data-aor="bob@localhost"]').waitFor({ timeout: kLiveMs });
      await shoot(page, 'registrations');
    });

    /** The number of events-socket messages the page got, and the last one's collections. */
    const events = async () => ({
      n: Number(await page.locator('body').getAttribute('data-events') || 0),
      last: await page.locator('body').getAttribute('data-last-event'),
    });
    await step('events socket: the page is live over /api/v1/events (not polling); a REGISTER arrives as a "registrations" event', async () => {
      await page.locator('body[data-live="socket"]').waitFor({ timeout: 8000 }).catch(async () => {
        throw new Error(`the page did not connect to /api/v1/events (subprotocol sipws-events): data-live=${await page.locator('body').getAttribute('data-live')}`);
      });
      const before = (await events()).n;
      // bob un-registers and registers again: two changes of the registrations.
      bob.unregister();
      await waitFor(async () => (await api(d, 'GET', '/api/v1/registrations?aor=bob@localhost')).json.length === 0,
        { ms: 5000, what: 'bob un-registered' });
      await waitFor(async () => (await events()).n > before, { ms: 5000, what: 'an events message after an un-REGISTER' });
      assert.match((await events()).last, /registrations/);
      await page.locator('[data-testid="registrations-table"] tr[data-aor="bob@localhost"]').waitFor({ state: 'detached', timeout: 3000 });
      await registerAgain(bob, 'bob@localhost');
      await page.locator('[data-testid="registrations-table"] tr[data-aor="bob@localhost"]').waitFor({ timeout: 3000 });
    });

    await step('events socket: a binding expired through the API arrives as a "registrations" event', async () => {
      const before = (await events()).n;
      const regs = (await api(d, 'GET', '/api/v1/registrations?aor=bob@localhost')).json;
      try {
        const del = await api(d, 'DELETE', `/api/v1/registrations?aor=bob@localhost&contact=${encodeURIComponent(regs[0].contact)}`);
        assert.equal(del.status, 204);
        await waitFor(async () => (await events()).n > before, { ms: 5000, what: 'an events message after DELETE /api/v1/registrations' });
        assert.match((await events()).last, /registrations/);
      } finally {
        await registerAgain(bob, 'bob@localhost');
      }
    });

    await step('registrations: "Expire" removes a binding from the page (confirmed)', async () => {
      await page.locator('[data-testid="registrations-table"] tr[data-aor="bob@localhost"]').waitFor({ timeout: kLiveMs });
      const btn = page.locator('[data-testid="registrations-table"] tr[data-aor="bob@localhost"]').getByTestId('expire-binding').first();
      await btn.click();
      await page.getByTestId('confirm').waitFor({ state: 'visible' });
      await page.getByTestId('confirm-cancel').click();
      assert.equal((await api(d, 'GET', '/api/v1/registrations?aor=bob@localhost')).json.length, 1, 'Cancel keeps it');
      await btn.click();
      await page.getByTestId('confirm-ok').click();
      await page.getByTestId('status').filter({ hasText: 'Binding of bob@localhost expired.' }).waitFor({ timeout: 5000 });
      assert.equal((await api(d, 'GET', '/api/v1/registrations?aor=bob@localhost')).json.length, 0);
      await registerAgain(bob, 'bob@localhost');
    });

    await step('flows: both WebSockets are listed with their peer, age and idle time', async () => {
      await openSection(page, 'Flows', 'flows');
      const regs = (await api(d, 'GET', '/api/v1/registrations')).json;
      for (const r of regs) {
        await page.locator(`[data-testid="flows-table"] tr[data-flow="${r.flow}"]`).waitFor({ timeout: kLiveMs });
        assert.match(await page.locator(`[data-testid="flows-table"] tr[data-flow="${r.flow}"]`).textContent(), new RegExp(r.source.replace(/\./g, '\\.')));
      }
      await shoot(page, 'flows');
    });

    // bob calls carol; carol's JsSIP rings (180) and answers when told.
    let call = null;
    let bobSession = null;
    const bobEnded = [];
    await step('calls: the call shows ringing, then answered; its ladder opens from the row; "End call" ends it on both sides', async () => {
      await openSection(page, 'Calls', 'calls');
      await page.getByTestId('calls-table-empty').waitFor({ timeout: 5000 });
      bobSession = bob.call('sip:carol@localhost', {
        ...kNoMedia,
        eventHandlers: { ended: (e) => bobEnded.push(e.originator), failed: (e) => bobEnded.push(`failed ${e.cause}`) },
      });
      await waitFor(() => carolSessions.length === 1, { ms: 10000, what: "carol's incoming call" });
      call = carolSessions[0];
      const row = page.locator(`[data-testid="calls-table"] tr[data-call-id=${q(call.callId)}]`);
      await page.locator(`[data-testid="calls-table"] tr[data-call-id=${q(call.callId)}][data-state="ringing"]`).waitFor({ timeout: kLiveMs });
      const confirmed = waitEvent(bobSession, 'confirmed', { ms: 10000, failOn: ['failed'] });
      call.session.answer(kNoMedia);
      await confirmed;
      await page.locator(`[data-testid="calls-table"] tr[data-call-id=${q(call.callId)}][data-state="answered"]`).waitFor({ timeout: kLiveMs });
      const text = await row.textContent();
      assert.match(text, /bob@localhost/);
      assert.match(text, /carol@localhost/);
      await shoot(page, 'calls');
      // The ladder of the live call, and back.
      await row.getByTestId('call-ladder').click();
      await page.waitForURL(new RegExp(`#/ladder/${encodeURIComponent(call.callId).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
      await waitLoaded(page, 'ladder');
      await page.getByTestId('ladder-arrow').filter({ hasText: 'INVITE' }).first().waitFor({ timeout: 5000 });
      await page.goBack();
      await waitLoaded(page, 'calls');
      // End it from the page: sipws sends BYE to both.
      const carolEnded = waitEvent(call.session, 'ended', { ms: 10000 });
      const bobEnd = waitEvent(bobSession, 'ended', { ms: 10000 });
      await row.getByTestId('end-call').click();
      await page.getByTestId('confirm-ok').click();
      await page.getByTestId('status').filter({ hasText: 'Call ended.' }).waitFor({ timeout: 5000 });
      await Promise.all([carolEnded, bobEnd]);
      assert.deepEqual(bobEnded, ['remote'], 'bob got a BYE');
      await page.getByTestId('calls-table-empty').waitFor({ timeout: kLiveMs });
    }).finally(async () => {
      // Whatever happened above, no call stays up for the next steps: bob hangs up.
      if (bobSession && !bobSession.isEnded()) {
        const ended = waitEvent(bobSession, 'ended', { ms: 5000 }).catch(() => {});
        try {
          bobSession.terminate();
        } catch {}
        await ended;
      }
    });

    await step('call records: the call is listed (200, ended by admin), filtered by Call-ID, exported as CSV', async () => {
      assert.ok(call, 'a call was made');
      await openSection(page, 'Call records', 'cdrs');
      const row = page.locator(`[data-testid="cdrs-table"] tr[data-call-id=${q(call.callId)}]`);
      await row.waitFor({ timeout: kLiveMs });
      assert.equal(await row.getAttribute('data-status'), '200');
      assert.match(await row.textContent(), /ended by admin/);
      await shoot(page, 'cdrs');
      await page.getByTestId('filter-call_id').fill(call.callId);
      await page.getByTestId('filter-apply').click();
      await page.waitForURL(/#\/cdrs\?call_id=/);
      await waitFor(async () => (await page.locator('[data-testid="cdrs-table"] tbody tr').count()) === 1,
        { ms: 5000, what: 'one record for the Call-ID' });
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 10000 }),
        page.getByTestId('export-csv').click(),
      ]);
      assert.match(download.suggestedFilename(), /^sipws-cdrs-.*\.csv$/);
      const csv = fs.readFileSync(await download.path(), 'utf8');
      const lines = csv.trim().split(/\r?\n/);
      assert.match(lines[0], /call_id/i, `a header line: ${lines[0]}`);
      assert.equal(lines.length, 2, `the header and the one record of the filter:\n${csv}`);
      assert.ok(lines[1].includes(call.callId), `the record of the call: ${lines[1]}`);
    });

    await step('SIP ladder (from the call record): INVITE/100/180/200/ACK/BYE/200 on both hops; a message in full; keyboard', async () => {
      assert.ok(call, 'a call was made');
      const regs = (await api(d, 'GET', '/api/v1/registrations')).json;
      const bobPeer = regs.find((r) => r.aor === 'bob@localhost').source;
      const carolPeer = regs.find((r) => r.aor === 'carol@localhost').source;
      await page.locator(`[data-testid="cdrs-table"] tr[data-call-id=${q(call.callId)}]`).getByTestId('cdr-ladder').click();
      await waitLoaded(page, 'ladder');
      assert.equal(await page.getByTestId('ladder-call-id').textContent(), call.callId);
      await page.getByTestId('ladder-arrow').first().waitFor({ timeout: 5000 });
      const arrows = await ladderArrows(page);
      const columns = await page.getByTestId('ladder-column').evaluateAll((els) => els.map((e) => e.dataset.peer));
      assert.deepEqual(columns, [bobPeer, 'sipws', carolPeer], 'the caller left, sipws, the callee right');
      const has = (a, b, label, method) => arrows.some((x) => x.label === label && (!method || x.method === method) &&
        ((x.from === a && x.to === b) || (x.from === b && x.to === a)));
      for (const [hop, peer] of [['bob <-> sipws', bobPeer], ['sipws <-> carol', carolPeer]]) {
        for (const [label, method] of [['INVITE'], ['100 Trying', 'INVITE'], ['180 Ringing', 'INVITE'], ['200 OK', 'INVITE'], ['ACK'], ['BYE'], ['200 OK', 'BYE']]) {
          assert.ok(has(peer, 'sipws', label, method), `${hop}: no ${label}${method ? ` (${method})` : ''} in ${JSON.stringify(arrows)}`);
        }
      }
      // Directions: bob's INVITE comes in, the INVITE to carol goes out.
      assert.ok(arrows.some((x) => x.label === 'INVITE' && x.from === bobPeer && x.direction === 'in'));
      assert.ok(arrows.some((x) => x.label === 'INVITE' && x.to === carolPeer && x.direction === 'out'));
      // Click the INVITE to carol: the panel shows it in full.
      const inviteOut = page.locator(`[data-testid="ladder-arrow"][data-label="INVITE"][data-to=${q(carolPeer)}]`).first();
      await inviteOut.click();
      const text = await page.getByTestId('message-text').textContent();
      assert.match(text, /^INVITE sip:/);
      assert.ok(text.includes(`Call-ID: ${call.callId}`) || text.includes(`i: ${call.callId}`), 'the Call-ID header');
      assert.equal(await inviteOut.getAttribute('aria-current'), 'true');
      // The authenticated INVITE from bob: its credentials are masked.
      const invitesIn = page.locator(`[data-testid="ladder-arrow"][data-label="INVITE"][data-from=${q(bobPeer)}]`);
      await invitesIn.last().click();
      const authed = await page.getByTestId('message-text').textContent();
      assert.match(authed, /Proxy-Authorization:/i);
      assert.doesNotMatch(authed, /response="?[0-9a-f]{32}/i, 'the digest response is masked');
      await shoot(page, 'ladder');
      // Keyboard: Down moves to the next arrow, Enter shows it.
      await page.getByTestId('ladder-arrow').first().focus();
      await page.keyboard.press('ArrowDown');
      assert.equal(await page.evaluate(() => [...document.querySelectorAll('[data-testid="ladder-arrow"]')].indexOf(document.activeElement)), 1);
      await page.keyboard.press('Enter');
      assert.match(await page.getByRole('heading', { level: 2 }).filter({ hasText: /^Message 2 of/ }).textContent(), /Message 2 of \d+/);
    });

    await step('SIP ladder: a Call-ID without messages says the ring is bounded', async () => {
      await page.evaluate(() => {
        location.hash = '#/ladder/no-such-call-id';
      });
      await waitLoaded(page, 'ladder');
      await page.getByTestId('ladder-empty').filter({ hasText: 'No messages kept for this Call-ID (the trace ring is bounded).' }).waitFor({ timeout: 5000 });
    });

    await step('flows: "Close" (confirmed) closes carol\'s WebSocket and her binding goes with it', async () => {
      const reg = (await api(d, 'GET', '/api/v1/registrations?aor=carol@localhost')).json[0];
      assert.ok(reg && reg.flow, 'carol is registered over a flow');
      await openSection(page, 'Flows', 'flows');
      const row = page.locator(`[data-testid="flows-table"] tr[data-flow="${reg.flow}"]`);
      await row.waitFor({ timeout: 5000 });
      const disconnected = waitEvent(carol, 'disconnected', { ms: 10000 });
      await row.getByTestId('close-flow').click();
      await page.getByTestId('confirm-ok').click();
      await disconnected;
      await page.getByTestId('status').filter({ hasText: `Flow ${reg.flow} closed.` }).waitFor({ timeout: 5000 });
      await row.waitFor({ state: 'detached', timeout: kLiveMs });
      assert.ok(!(await api(d, 'GET', '/api/v1/registrations?aor=carol@localhost')).json.some((r) => r.flow === reg.flow));
      carol.stop(); // no reconnection: she is deleted below
    });

    await step('bans: a user banned after failed digests is listed, and lifted from the page', async () => {
      for (let i = 0; i < 3; i++) {
        const ep = await endpointIn(s, `mallory ${i}`);
        const c = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp }, user: 'mallory', password: 'guess' });
        await c.register();
      }
      await waitFor(async () => (await api(d, 'GET', '/api/v1/bans')).json.some((b) => b.what === 'mallory@localhost'),
        { ms: 5000, what: 'the ban of mallory@localhost' });
      await openSection(page, 'Bans', 'bans');
      const lift = page.getByRole('button', { name: 'Lift the ban of mallory@localhost' });
      await lift.waitFor({ timeout: 5000 });
      await shoot(page, 'bans');
      await lift.click();
      await page.getByTestId('status').filter({ hasText: 'Ban of mallory@localhost lifted.' }).waitFor({ timeout: 5000 });
      assert.ok(!(await api(d, 'GET', '/api/v1/bans')).json.some((b) => b.what === 'mallory@localhost'));
    });

    await step('gateways and routes: up/down state, the route, the trusted peer; reload the configuration', async () => {
      await openSection(page, 'Gateways and routes', 'gateways');
      const b = page.locator('[data-testid="gateways-table"] tr[data-gateway="carrier-b"]');
      await b.waitFor({ timeout: 5000 });
      assert.equal(await b.getAttribute('data-up'), 'true', 'an unprobed gateway is up');
      const gws = (await api(d, 'GET', '/api/v1/gateways')).json;
      const a = gws.find((g) => g.name === 'carrier-a');
      assert.equal(await page.locator('[data-testid="gateways-table"] tr[data-gateway="carrier-a"]').getAttribute('data-up'), String(a.up));
      assert.match(await page.getByTestId('routes-table').textContent(), /\^9\[0-9\]\{7,\}\$/);
      assert.match(await page.getByTestId('peers-table').textContent(), /sipp-phone/);
      await shoot(page, 'gateways');
      await page.getByTestId('reload-config').click();
      await page.getByTestId('status').filter({ hasText: /^Configuration reloaded/ }).waitFor({ timeout: 5000 });
    });

    await step('subscribers: delete carol from her page (confirmed)', async () => {
      await page.evaluate(() => {
        location.hash = '#/subscribers/carol@localhost';
      });
      await waitLoaded(page, 'subscriber');
      await page.getByTestId('delete-subscriber').click();
      await page.getByTestId('confirm-ok').click();
      await page.waitForURL(/#\/subscribers$/);
      await page.getByTestId('status').filter({ hasText: 'Subscriber carol@localhost deleted.' }).waitFor({ timeout: 5000 });
      assert.equal((await api(d, 'GET', '/api/v1/subscribers/carol@localhost')).status, 404);
    });

    await step('accessibility sanity check of every page (labels, names, captions, landmarks, one h1, ids)', async () => {
      const pages = ['subscribers', 'subscribers/bob@localhost', 'registrations', 'flows', 'calls', 'cdrs', 'gateways', 'bans',
        `ladder/${encodeURIComponent(call ? call.callId : 'x')}`];
      const all = [];
      for (const p of pages) {
        await page.evaluate((h) => {
          location.hash = h;
        }, `#/${p}`);
        await waitLoaded(page, p.split('/')[0] === 'subscribers' && p.includes('/') ? 'subscriber' : p.split('/')[0]);
        for (const problem of await accessibilityProblems(page)) all.push(`#/${p}: ${problem}`);
      }
      // The confirmation dialog too.
      await page.evaluate(() => {
        location.hash = '#/subscribers';
      });
      await waitLoaded(page, 'subscribers');
      await page.getByTestId('delete-subscriber').first().click();
      await page.getByTestId('confirm').waitFor({ state: 'visible' });
      assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'confirm-cancel', 'the dialog starts on Cancel');
      for (const problem of await accessibilityProblems(page)) all.push(`dialog: ${problem}`);
      await page.keyboard.press('Escape');
      assert.equal(await page.getByTestId('confirm').isVisible(), false);
      assert.deepEqual(all, []);
    });

    await step('sign out: back to sign-in, the token forgotten; a token made invalid later shows "wrong token"', async () => {
      await page.getByTestId('sign-out').click();
      await page.locator('body[data-signed-in="false"]').waitFor({ timeout: 5000 });
      assert.equal(await page.evaluate(() => sessionStorage.getItem('sipwsAdmin.token')), null);
      // A token that stops working (as after a restart with another one): the next request's
      // 401 returns to sign-in with "wrong token".
      await page.evaluate(() => {
        sessionStorage.setItem('sipwsAdmin.token', 'an-old-token-an-old-token');
        location.hash = '#/registrations';
      });
      await page.reload();
      await page.locator('body[data-signed-in="false"]').waitFor({ timeout: 10000 });
      await page.getByTestId('signin-error').filter({ hasText: /wrong token/i }).waitFor({ timeout: 5000 });
    });
  }));

test('web admin, keyboard only: Tab to the token, Enter signs in, sections by keyboard; the theme toggle', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: [kAdminRoot, `admin_token=${kToken}`] });
    const browser = await browserIn(s);
    const page = await openAdmin(s, browser, d, { colorScheme: 'light' });
    // From the top of the page: Tab until the token field has the focus.
    await page.evaluate(() => document.activeElement?.blur());
    const order = [];
    for (let i = 0; i < 6; i++) {
      await page.keyboard.press('Tab');
      const at = await page.evaluate(() => document.activeElement?.id || document.activeElement?.dataset.testid || document.activeElement?.tagName);
      order.push(at);
      if (at === 'signin-token') break;
    }
    assert.equal(order[order.length - 1], 'signin-token', `Tab order from the top: ${order.join(' > ')}`);
    const focusRing = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.notEqual(focusRing, 'none', 'the focused field shows a focus ring');
    await page.keyboard.type(kToken);
    await page.keyboard.press('Enter');
    await page.locator('body[data-signed-in="true"]').waitFor({ timeout: 10000 });
    await waitLoaded(page, 'subscribers');
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1', 'the focus is on the page heading');

    // Tab to the "Calls" section link and press Enter.
    let reached = false;
    for (let i = 0; i < 20 && !reached; i++) {
      await page.keyboard.press('Shift+Tab');
      reached = await page.evaluate(() => document.activeElement?.dataset.route === 'calls');
    }
    assert.ok(reached, 'the Calls link is reachable with the keyboard');
    await page.keyboard.press('Enter');
    await page.locator('body[data-page="calls"]').waitFor({ timeout: 5000 });
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Calls');
    assert.equal(await page.locator('nav a[data-route="calls"]').getAttribute('aria-current'), 'page');

    // Theme: the system's (light here) until the toggle picks dark; kept in localStorage.
    const bg = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const light = await bg();
    const toggle = page.getByTestId('theme-toggle');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.focus();
    await page.keyboard.press('Enter');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    assert.notEqual(await bg(), light, 'the page turned dark');
    await page.reload();
    await page.locator('body[data-signed-in="true"]').waitFor({ timeout: 10000 });
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark', 'the choice is remembered');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('sipwsAdmin.token')), kToken, 'a reload keeps the session');
    // After a load, the first Tab reaches the skip link, which leads to the main content.
    await waitLoaded(page, 'calls');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    await page.keyboard.press('Enter');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  }));

test('web admin of a daemon without admin_token: signing in says the API is disabled', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: [kAdminRoot] });
    const browser = await browserIn(s);
    const page = await openAdmin(s, browser, d);
    await page.getByTestId('signin-token').fill(kToken);
    await page.keyboard.press('Enter');
    await page.getByTestId('signin-error').filter({ hasText: 'The API is disabled: set admin_token' }).waitFor({ timeout: 5000 });
    assert.equal(await page.locator('body').getAttribute('data-signed-in'), 'false');
    assert.deepEqual(await accessibilityProblems(page), []);
  }));
