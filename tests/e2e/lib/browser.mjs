// Headless Chromium (Debian's /usr/bin/chromium) driven with playwright-core, and the demo web
// phone (www/demo-jssip) as served by sipws over HTTPS on its WSS listener. Every wait is for a
// DOM state or a stats value, bounded, and says what it waited for and what it saw last.
import fs from 'node:fs';
import { chromium } from 'playwright-core';
import { waitFor } from '../../integration/lib/wait.mjs';

export const chromiumBin = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

/** Fake microphone and no permission prompt; self-signed dev certificate; loopback ICE. */
export const kChromiumArgs = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--ignore-certificate-errors',
  '--autoplay-policy=no-user-gesture-required',
  // sipws and SIPp are on 127.0.0.1: let WebRTC gather loopback candidates too.
  '--allow-loopback-in-peer-connection',
  '--disable-gpu',
  '--no-first-run',
  '--no-default-browser-check',
  '--disable-dev-shm-usage',
];
export const kPhoneViewport = { width: 390, height: 844 };
export const kDesktopViewport = { width: 1280, height: 800 };

/** Launches Chromium (closed after the test). Fails early with a clear message if missing. */
export async function browserIn(scope) {
  if (!fs.existsSync(chromiumBin)) {
    throw new Error(`${chromiumBin} not found: install Debian's chromium (scripts/install-deps.sh --test) or set CHROMIUM_BIN`);
  }
  const browser = await chromium.launch({
    executablePath: chromiumBin, headless: true, args: kChromiumArgs, timeout: 30000,
  });
  scope.defer(() => browser.close());
  return browser;
}

/** The demo page's URL on the daemon's WSS listener, and the WSS URL the page signs in to. */
export function demoUrls(daemon) {
  return {
    page: `https://127.0.0.1:${daemon.ports.wss}/`,
    ws: `wss://127.0.0.1:${daemon.ports.wss}`,
  };
}

/**
 * Opens the demo page in a new browser context (its own localStorage, cookies and peer
 * connections, like another device). The page's console and errors are shown if the test fails.
 * @returns the Playwright page, with `page.phoneName`
 */
export async function openPhone(scope, browser, daemon, { name = 'phone', viewport = kDesktopViewport, colorScheme = 'light' } = {}) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true, viewport, colorScheme, permissions: ['microphone'],
    deviceScaleFactor: 1,
  });
  scope.defer(() => context.close());
  const page = await context.newPage();
  page.phoneName = name;
  const log = [];
  page.on('console', (m) => log.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => log.push(`[pageerror] ${e.stack || e.message}`));
  scope.log(`browser ${name}: console`, () => log.join('\n'));
  scope.log(`browser ${name}: last state`, () => JSON.stringify(page.lastState || null));
  await page.goto(demoUrls(daemon).page, { timeout: 15000 });
  await page.waitForFunction(() => window.sipwsDemo && window.sipwsDemo.phone, null, { timeout: 10000 });
  return page;
}

/** window.sipwsDemo.state() of the page (kept as page.lastState for failure reports). */
export async function phoneState(page) {
  page.lastState = await page.evaluate(() => window.sipwsDemo.state());
  return page.lastState;
}

/**
 * Waits until <body data-NAME-state="value"> (NAME: ws, reg, call); the page's own mirror of
 * its state.
 */
export async function waitBodyState(page, name, value, ms = 10000) {
  try {
    await page.locator(`body[data-${name}-state="${value}"]`).waitFor({ state: 'attached', timeout: ms });
  } catch (err) {
    const st = await phoneState(page).catch(() => null);
    throw new Error(`${page.phoneName}: data-${name}-state did not become '${value}' within ${ms} ms; state: ${JSON.stringify(st)}`);
  }
}

/**
 * Waits for the call to be established (data-call-state `in-call`). Fails at once if the call
 * ends instead (back to idle with a result other than `before`, the page's lastResult taken
 * before dialing / answering), with the page's result (e.g. "failed: Bad Media Description").
 */
export async function waitInCall(page, { ms = 15000, before = null } = {}) {
  let st = null;
  try {
    await waitFor(async () => {
      st = await phoneState(page);
      if (st.call === 'in-call') return true;
      if (st.call === 'idle' && JSON.stringify(st.lastResult) !== JSON.stringify(before)) {
        throw new Error(`the call ended before it was established: ${st.lastResult && st.lastResult.result}`);
      }
      return false;
    }, { ms, intervalMs: 100, what: 'in-call' });
  } catch (err) {
    throw new Error(`${page.phoneName}: no call established within ${ms} ms: ${err.message}; state: ${JSON.stringify(st)}`);
  }
}

/**
 * Signs in through the form, as a person would: user, domain, password and (under "Server")
 * the WebSocket URL; then waits for "registered".
 */
export async function signIn(page, daemon, { user, password, domain = 'localhost' }) {
  await page.getByTestId('login-user').fill(user);
  await page.getByTestId('login-domain').fill(domain);
  await page.getByTestId('login-password').fill(password);
  await page.locator('#login details.advanced > summary').click();
  await page.getByTestId('login-ws').fill(demoUrls(daemon).ws);
  await page.getByTestId('login-submit').click();
  await waitBodyState(page, 'ws', 'connected');
  await waitBodyState(page, 'reg', 'registered');
}

/** Types `target` in the dial field and presses Call. */
export async function dialFromUi(page, target) {
  await page.getByTestId('dial-target').fill(target);
  await page.getByTestId('call').click();
}

/** The media summary of the current call (window.sipwsDemo.stats()), or null. */
export function mediaStats(page) {
  return page.evaluate(() => window.sipwsDemo.stats());
}

/**
 * Waits until the call's RTCPeerConnection is `connected`, DTLS is `connected`, and audio
 * packets keep coming: inbound-rtp packetsReceived grows by at least `packets` after the first
 * packet was seen, and outbound packetsSent grows too. @returns the last stats.
 */
export async function waitMediaFlowing(page, { packets = 25, ms = 15000 } = {}) {
  let last = null;
  let base = null;
  try {
    await waitFor(async () => {
      last = await mediaStats(page);
      if (!last || last.connectionState !== 'connected' || last.dtlsState !== 'connected') return false;
      if (!base) {
        if (last.inbound.packetsReceived > 0 && last.outbound.packetsSent > 0) base = last;
        return false;
      }
      return last.inbound.packetsReceived >= base.inbound.packetsReceived + packets &&
        last.outbound.packetsSent > base.outbound.packetsSent;
    }, { ms, intervalMs: 200, what: 'media' });
  } catch (err) {
    throw new Error(`${page.phoneName}: audio did not flow within ${ms} ms (connected, DTLS connected, ` +
      `+${packets} packets received): first=${JSON.stringify(base)} last=${JSON.stringify(last)}`);
  }
  return last;
}

/** The SDP of the current call's local and remote descriptions. */
export function descriptions(page) {
  return page.evaluate(() => {
    const pc = window.sipwsDemo.pc;
    return pc ? { local: pc.localDescription?.sdp || '', remote: pc.remoteDescription?.sdp || '' } : null;
  });
}

/** The `a=fingerprint` values of an SDP. */
export function fingerprints(sdp) {
  return [...sdp.matchAll(/^a=fingerprint:(.+?)\s*$/gm)].map((m) => m[1].toLowerCase());
}
