#!/usr/bin/env node
// Screenshots of the demo web phone for docs/screenshots/: signed out, idle (signed in), ringing
// (an incoming call) and in a call, at a phone-size viewport (390x844) and a desktop one
// (1280x800), in the light colour scheme (and the phone ones in dark too). A real daemon and two
// browser contexts: alice calls bob, the pictures are bob's page.
//   node tests/e2e/screenshots.mjs [OUTDIR]     (default: docs/screenshots of the repository)
// Needs build/sipws (or SIPWS_BIN), www/demo-jssip/vendor/jssip.min.js and /usr/bin/chromium.
import fs from 'node:fs';
import path from 'node:path';
import { daemonIn } from '../integration/lib/fixtures.mjs';
import { repoRoot } from '../integration/lib/daemon.mjs';
import { withScope } from '../integration/lib/scope.mjs';
import {
  browserIn, dialFromUi, kDesktopViewport, kPhoneViewport, openPhone, signIn, waitBodyState,
  waitInCall, waitMediaFlowing,
} from './lib/browser.mjs';

const outDir = path.resolve(process.argv[2] || path.join(repoRoot, 'docs', 'screenshots'));
fs.mkdirSync(outDir, { recursive: true });

const kShots = [
  { name: 'phone', viewport: kPhoneViewport, colorScheme: 'light' },
  { name: 'phone-dark', viewport: kPhoneViewport, colorScheme: 'dark' },
  { name: 'desktop', viewport: kDesktopViewport, colorScheme: 'light' },
];

async function shoot(page, file) {
  // No caret blink or running animation in the pictures.
  await page.addStyleTag({ content: '*, *::before, *::after { animation: none !important; transition: none !important; caret-color: transparent !important; }' });
  await page.mouse.move(0, 0); // no hover highlight left where the last click was
  await page.screenshot({ path: path.join(outDir, file) });
  console.log(`wrote ${path.join(outDir, file)}`);
}

await withScope(null, async (s) => {
  const d = await daemonIn(s);
  await d.addUser('alice@localhost', 'alice-pw-1');
  await d.addUser('bob@localhost', 'bob-pw-2');
  const browser = await browserIn(s);
  for (const { name, viewport, colorScheme } of kShots) {
    const alice = await openPhone(s, browser, d, { name: 'alice', viewport });
    const bob = await openPhone(s, browser, d, { name: 'bob', viewport, colorScheme });
    await bob.getByTestId('login-user').fill('bob');
    await shoot(bob, `${name}-signin.png`);
    await Promise.all([
      signIn(alice, d, { user: 'alice', password: 'alice-pw-1' }),
      signIn(bob, d, { user: 'bob', password: 'bob-pw-2' }),
    ]);
    await bob.getByTestId('dial-target').blur();
    await shoot(bob, `${name}-idle.png`);
    await dialFromUi(alice, 'bob');
    await waitBodyState(bob, 'call', 'ringing');
    await shoot(bob, `${name}-ringing.png`);
    await bob.getByTestId('answer').click();
    await waitInCall(bob);
    await waitMediaFlowing(bob);
    await shoot(bob, `${name}-in-call.png`);
    await alice.getByTestId('hangup').click();
    await waitBodyState(bob, 'call', 'idle');
    await Promise.all([alice.context().close(), bob.context().close()]);
  }
});
