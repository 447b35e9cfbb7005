// (a) JsSIP registration over WS and WSS against the real daemon: digest challenge (401, MD5
// offered first), 200 echoing the binding, refresh, un-REGISTER, wrong password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn, sippIn, uaIn } from './lib/fixtures.mjs';
import { JsSIP, parseSip, waitMessage } from './lib/jssip.mjs';
import { freePort } from './lib/ports.mjs';
import { SipClient, endpointIn } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent } from './lib/wait.mjs';

/** Raw responses to REGISTER that the UA's socket received, parsed. */
function registerResponses(ua) {
  return ua.socket.received.map(parseSip).filter((m) => m.status && /REGISTER$/i.test(m.cseq));
}

/** Asserts that a 200 to REGISTER lists the UA's own contact with a non-zero lifetime. */
function assertBindingEchoed(ua, response) {
  assert.equal(response.status_code, 200);
  const own = ua.contact.uri;
  const contacts = [];
  // JsSIP's parser splits comma-separated Contact values into one entry each.
  for (let i = 0; i < response.getHeaders('contact').length; i++) {
    const c = response.parseHeader('contact', i);
    if (c) contacts.push(c);
  }
  const raw = response.getHeaders('contact').join(', ');
  const mine = contacts.find((c) => c.uri.user === own.user && c.uri.host === own.host);
  assert.ok(mine, `200 to REGISTER does not list our contact ${own} (Contact: ${raw})`);
  const expires = Number(mine.getParam('expires') ?? response.getHeader('expires'));
  assert.ok(expires > 0, `binding lifetime should be > 0, got Contact: ${raw}`);
}

for (const proto of ['ws', 'wss']) {
  test(`(a) JsSIP registers over ${proto.toUpperCase()} (401 then 200), refreshes, unregisters`, (t) =>
    withScope(t, async (s) => {
      // foreign_callers=allow: the SIPp caller at the end (sip:sipp@example.net, another
      // domain) reaches alice's AOR unchallenged, so its 404/480 is the location service's.
      const d = await daemonIn(s, { foreignCallers: 'allow' });
      await d.addUser('alice@localhost', 'secret');
      const ua = uaIn(s, { proto, port: d.ports[proto], user: 'alice', password: 'secret' });

      const first = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
      ua.start();
      const reg1 = await first;
      assertBindingEchoed(ua, reg1.response);

      // The 200 came after a digest challenge that offers MD5 (the algorithm JsSIP supports).
      const seen = registerResponses(ua);
      const challenge = seen.find((m) => m.status === 401);
      assert.ok(challenge, `no 401 to REGISTER seen; got ${seen.map((m) => m.first).join(' | ')}`);
      const offers = challenge.headers('WWW-Authenticate');
      assert.ok(offers.length >= 1, '401 without WWW-Authenticate');
      const isMd5 = (o) => {
        const alg = /algorithm=("?)([A-Za-z0-9-]+)\1/i.exec(o);
        return /^Digest\s/i.test(o) && (!alg || alg[2].toUpperCase() === 'MD5');
      };
      assert.ok(offers.some(isMd5), `no MD5 digest challenge: ${offers.join(' | ')}`);
      assert.ok(seen.indexOf(challenge) < seen.findIndex((m) => m.status === 200));

      // Refresh: JsSIP emits 'registered' only on the transition to registered, so the
      // refresh is observed on the wire: a new REGISTER (new CSeq) answered 200 with our
      // binding (a challenge in between is fine), and the UA still registered.
      const mark = ua.socket.received.length;
      const sentBefore = ua.socket.sent.filter((m) => m.startsWith('REGISTER ')).length;
      ua.register();
      const refreshed = await waitMessage(
        ua.socket,
        (m) => m.status === 200 && /REGISTER$/i.test(m.cseq),
        { from: mark, failIf: (m) => m.status >= 300 && m.status !== 401 && /REGISTER$/i.test(m.cseq) },
      );
      assert.ok(ua.socket.sent.filter((m) => m.startsWith('REGISTER ')).length > sentBefore);
      assert.ok(parseInt(refreshed.cseq, 10) > parseInt(reg1.response.cseq, 10), 'refresh reused a CSeq');
      const own = `sip:${ua.contact.uri.user}@${ua.contact.uri.host}`;
      assert.ok(
        refreshed.headers('Contact|m').some((c) => c.includes(own)),
        `refresh 200 does not list ${own}: ${refreshed.headers('Contact|m').join(', ')}`,
      );
      assert.equal(ua.isRegistered(), true);

      // Un-REGISTER: 'unregistered' with a 200.
      const gone = waitEvent(ua, 'unregistered', { failOn: ['registrationFailed'] });
      ua.unregister();
      const unreg = await gone;
      assert.equal(unreg.response?.status_code, 200);

      // The location service forgot the binding: a call to alice is now rejected (404/480).
      const uac = await sippIn(s, 'uac (after unregister)', {
        scenario: 'uac_reject.xml',
        port: await freePort(),
        remote: `127.0.0.1:${d.ports.udp}`,
        keys: { target_uri: 'sip:alice@localhost' },
      });
      assert.equal((await uac.done).code, 0, 'SIPp expected 404 or 480 for the unregistered alice');
    }));
}

test('(a) JsSIP with a wrong password gets registrationFailed (Authentication Error / 401)', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    await d.addUser('alice@localhost', 'secret');
    const ua = uaIn(s, { proto: 'ws', port: d.ports.ws, user: 'alice', password: 'wrong' });
    const failed = waitEvent(ua, 'registrationFailed', { failOn: ['registered'] });
    ua.start();
    const e = await failed;
    assert.ok(
      e.cause === JsSIP.C.causes.AUTHENTICATION_ERROR || e.response?.status_code === 401,
      `cause ${e.cause}, status ${e.response?.status_code}`,
    );
    // JsSIP did answer the first challenge: at least two REGISTERs went out.
    assert.ok(ua.socket.sent.filter((m) => m.startsWith('REGISTER ')).length >= 2);
  }));

test('(a) a password changed with the CLI applies to the next REGISTER while the daemon runs', (t) =>
  withScope(t, async (s) => {
    // The daemon keeps HA1s in memory; the CLI's change (another process) must still win
    // within the store's poll interval (1 s), and the old password must stop working.
    const d = await daemonIn(s);
    await d.addUser('carol@localhost', 'old-secret');
    const ep = await endpointIn(s, 'carol');
    const client = (password) => new SipClient(ep, {
      server: { host: '127.0.0.1', port: d.ports.udp }, user: 'carol', password,
    });
    assert.equal((await client('old-secret').register()).final.status, 200);
    assert.equal((await client('old-secret').register()).final.status, 200); // from memory

    await d.addUser('carol@localhost', 'n3w-secret');
    // Bounded: each round is a real REGISTER; the change is seen within about a second. Few
    // rounds, so that the failures stay under auth_max_failures (a ban would answer 403).
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) {
      status = (await client('n3w-secret').register()).final.status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 300));
    }
    assert.equal(status, 200, 'the new password was not accepted within 6 s');
    assert.equal((await client('old-secret').register()).final.status, 401);
  }));
