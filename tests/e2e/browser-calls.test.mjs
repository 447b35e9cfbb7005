// (a) Two demo web phones in headless Chromium call each other through sipws: alice dials bob
// from the page, bob's page rings, bob answers from the page, both RTCPeerConnections connect
// (ICE + DTLS) and audio flows both ways (inbound-rtp packetsReceived grows on both), alice hangs
// up and both pages return to idle with the call in their logs. Run with media_anchor=never and
// with the default (auto), under which a WebRTC <-> WebRTC call is not anchored either: each
// browser's remote SDP carries the other browser's DTLS fingerprint, not one of sipws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn } from '../integration/lib/fixtures.mjs';
import { withScope } from '../integration/lib/scope.mjs';
import {
  browserIn, descriptions, dialFromUi, fingerprints, openPhone, signIn, waitBodyState,
  waitInCall, waitMediaFlowing,
} from './lib/browser.mjs';

for (const anchor of ['never', 'auto']) {
  test(`(a) browser alice calls browser bob through sipws (media_anchor=${anchor}): ring, answer, audio both ways, hang up`, (t) =>
    withScope(t, async (s) => {
      const d = await daemonIn(s, { extraSets: anchor === 'auto' ? [] : [`media_anchor=${anchor}`] });
      await d.addUser('alice@localhost', 'alice-pw-1');
      await d.addUser('bob@localhost', 'bob-pw-2');
      const browser = await browserIn(s);
      const [alice, bob] = await Promise.all([
        openPhone(s, browser, d, { name: 'alice' }),
        openPhone(s, browser, d, { name: 'bob' }),
      ]);
      await Promise.all([
        signIn(alice, d, { user: 'alice', password: 'alice-pw-1' }),
        signIn(bob, d, { user: 'bob', password: 'bob-pw-2' }),
      ]);

      await dialFromUi(alice, 'bob');
      await waitBodyState(alice, 'call', 'calling');
      await waitBodyState(bob, 'call', 'ringing');
      const incoming = bob.getByTestId('incoming');
      await incoming.waitFor({ state: 'visible', timeout: 5000 });
      assert.equal(await bob.getByTestId('incoming-caller').textContent(), 'alice@localhost');
      assert.equal(await bob.getByTestId('answer').isVisible(), true);
      await bob.getByTestId('answer').click();

      await waitInCall(bob);
      await waitInCall(alice);
      const [sa, sb] = await Promise.all([waitMediaFlowing(alice), waitMediaFlowing(bob)]);
      for (const [who, st] of [['alice', sa], ['bob', sb]]) {
        t.diagnostic(`${who}: ${JSON.stringify(st)}`);
        assert.equal(st.inbound.codec, 'opus/48000', `${who} receives opus from the other browser`);
      }
      // Not anchored: the DTLS peer of each browser is the other browser.
      const [da, db] = await Promise.all([descriptions(alice), descriptions(bob)]);
      assert.ok(fingerprints(da.local).length === 1 && fingerprints(db.local).length === 1);
      assert.deepEqual(fingerprints(da.remote), fingerprints(db.local), 'alice talks DTLS with bob');
      assert.deepEqual(fingerprints(db.remote), fingerprints(da.local), 'bob talks DTLS with alice');

      await alice.getByTestId('hangup').click();
      await waitBodyState(alice, 'call', 'idle');
      await waitBodyState(bob, 'call', 'idle');
      for (const [page, direction] of [[alice, 'out'], [bob, 'in']]) {
        const entry = page.getByTestId('call-log-entry').first();
        assert.equal(await entry.getAttribute('data-direction'), direction);
        assert.equal(await entry.getAttribute('data-result'), 'answered');
      }
      assert.equal(await alice.evaluate(() => window.sipwsDemo.pc), null);
    }));
}
