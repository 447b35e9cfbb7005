// Topology hiding (issue 14 item 4, `topology_hiding: true` on a gateway): a SIPp phone
// outside, at 127.0.0.2 behind a hidden gateway, sees no inside address in any header or SDP,
// whichever side calls. Inside: SIPp phones of local users at 127.0.0.5 (loopback aliases; sipws
// itself is at 127.0.0.1). Both calls complete with their ACK and BYE, so the Call-IDs and
// Contact tokens sipws substitutes work both ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metric } from './lib/daemon.mjs';
import { daemonIn, registerSippContact, sippIn } from './lib/fixtures.mjs';
import { freePort } from './lib/ports.mjs';
import { sippMessages } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { withTimeout } from './lib/wait.mjs';

const kInside = '127.0.0.5';
const kOutside = '127.0.0.2';

/**
 * What of `secrets` (strings) appears in `messages` (parsed SIP): a list of "secret in first
 * line" findings, empty when nothing leaked.
 */
function leaks(messages, secrets) {
  const found = [];
  for (const m of messages) {
    for (const secret of secrets) {
      if (m.text.includes(secret)) found.push(`${secret} in ${m.first}:\n${m.text}`);
    }
  }
  return found;
}

/**
 * The inside UA's own identifiers in what it sent: its address and port, the Call-IDs it used,
 * the Via branches of its requests (its responses carry the caller's).
 */
function identifiers(sent, port) {
  const out = new Set([kInside, `:${port}`]);
  for (const m of sent) {
    out.add(m.get('call-id'));
    if (!m.method) continue;
    for (const v of m.all('via')) {
      const b = /;branch=([^;\s]+)/.exec(v);
      if (b) out.add(b[1]);
    }
  }
  return [...out];
}

test('a hidden gateway\'s phone sees only sipws, calling in and called from inside', (t) =>
  withScope(t, async (s) => {
    const gwPort = await freePort();
    const gateways = [{ name: 'GW1', uri: `sip:${kOutside}:${gwPort}`, topology_hiding: true }];
    const routes = [{ match: '^9[0-9]+$', gateways: ['GW1'] }];
    // The gateway's calls in are admitted by address, as a PSTN gateway's are.
    const trusted = [{ name: 'gw', source: kOutside }];
    const d = await daemonIn(s, { extraSets: [`gateways=${JSON.stringify(gateways)}`,
      `routes=${JSON.stringify(routes)}`, `trusted_peers=${JSON.stringify(trusted)}`] });
    await d.addUser('alice@localhost', 'secret');

    // 1. alice (inside) calls out through the gateway.
    const uas = await sippIn(s, 'the phone behind the gateway', { scenario: 'uas_call.xml',
      host: kOutside, port: gwPort });
    const alicePort = await freePort();
    const uac = await sippIn(s, 'alice calls out', {
      scenario: 'uac_call_auth.xml',
      host: kInside,
      port: alicePort,
      remote: `127.0.0.1:${d.ports.udp}`,
      keys: { target_uri: 'sip:95551234@localhost', aor_user: 'alice', aor_domain: 'localhost' },
      args: ['-au', 'alice', '-ap', 'secret'],
    });
    const [a, b] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
    assert.equal(a.code, 0, 'alice did not complete the call');
    assert.equal(b.code, 0, 'the phone behind the gateway did not complete the call');
    const seenOutside = sippMessages(uas, 'received');
    assert.ok(seenOutside.some((m) => m.method === 'BYE'), 'the outside phone got the BYE');
    const invite = seenOutside.find((m) => m.method === 'INVITE');
    assert.ok(invite, 'the outside phone got the INVITE');
    assert.equal(invite.all('via').length, 1, invite.text);
    assert.match(invite.get('contact'), /^<sip:sw-c[A-Za-z0-9_-]+@127\.0\.0\.1:/);
    assert.match(invite.body, /c=IN IP4 127\.0\.0\.1/, 'the media is anchored at sipws');
    assert.deepEqual(leaks(seenOutside, identifiers(sippMessages(uac, 'sent'), alicePort)), []);

    // 2. The gateway's phone calls bob (inside, a registered SIPp phone).
    const bobPort = await freePort();
    await registerSippContact(s, d, 'bob', bobPort, kInside);
    const bob = await sippIn(s, 'bob (inside)', { scenario: 'uas_call.xml', host: kInside,
      port: bobPort });
    const caller = await sippIn(s, 'the gateway calls bob', {
      scenario: 'uac_call.xml',
      host: kOutside,
      port: await freePort(),
      remote: `127.0.0.1:${d.ports.udp}`,
      keys: { target_uri: 'sip:bob@localhost' },
    });
    const [c, e] = await withTimeout(Promise.all([caller.done, bob.done]), 25000, 'SIPp exits');
    assert.equal(c.code, 0, 'the gateway\'s call to bob did not complete');
    assert.equal(e.code, 0, 'bob did not complete the call');
    const answers = sippMessages(caller, 'received');
    const ok = answers.find((m) => m.status === 200 && /INVITE/.test(m.get('cseq')));
    assert.ok(ok, 'the caller got the 200');
    assert.match(ok.get('contact'), /^<sip:sw-c[A-Za-z0-9_-]+@127\.0\.0\.1:/);
    assert.deepEqual(leaks(answers, identifiers(sippMessages(bob, 'sent'), bobPort)), []);
    // The inside knew that call by a masked Call-ID, the outside by its own.
    const bobInvite = sippMessages(bob, 'received').find((m) => m.method === 'INVITE');
    assert.match(bobInvite.get('call-id'), /^sw-h/);
    assert.equal(ok.get('call-id'), sippMessages(caller, 'sent')[0].get('call-id'));
    assert.equal(await metric(d, 'media_sessions_created'), 2, 'both calls were anchored');
  }));
