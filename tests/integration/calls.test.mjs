// (b) JsSIP over WS calls a SIPp UAS on UDP through sipws (407 challenge, full dialog). The UAS
//     is reached as a registered user (bob@localhost, registered by SIPp from the UAS's port),
//     the way a browser calls a SIP phone; (d) covers a non-local Request-URI relayed as is.
// (c) A SIPp UAC on UDP calls a JsSIP user registered over WS; and an AOR without binding. The
//     caller is of another domain (sip:sipp@example.net): the daemon federates
//     (`foreign_callers=allow`), so it reaches local users unauthenticated and nothing else.
// (d) A SIPp UAC on TCP calls a SIPp UAS on UDP through sipws. The target is not local, so the
//     caller is a subscriber of ours (alice, SIPp's [authentication]): sipws relays only for them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn, registerSippContact, sippIn, uaIn } from './lib/fixtures.mjs';
import { kNoMedia, parseSip } from './lib/jssip.mjs';
import { freePort } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent, withTimeout } from './lib/wait.mjs';

/** Via entries of a raw SIP message (comma-separated values split; no commas in our params). */
function vias(msg) {
  return msg.headers('Via|v').flatMap((v) => v.split(',').map((x) => x.trim()));
}

test('(b) JsSIP over WS calls a SIPp UAS (registered bob) on UDP through sipws (407, 180, 200, ACK, BYE)', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    await d.addUser('alice@localhost', 'secret');
    const ua = uaIn(s, { proto: 'ws', port: d.ports.ws, user: 'alice', password: 'secret' });
    const registered = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
    ua.start();
    await registered;

    const uasPort = await freePort();
    await registerSippContact(s, d, 'bob', uasPort);
    const uas = await sippIn(s, 'uas (udp)', { scenario: 'uas_call.xml', port: uasPort });

    const seen = [];
    const session = ua.call('sip:bob@localhost', {
      ...kNoMedia,
      eventHandlers: {
        progress: (e) => seen.push(['progress', e.response?.status_code]),
        accepted: (e) => seen.push(['accepted', e.response?.status_code]),
        confirmed: () => {
          seen.push(['confirmed']);
          session.terminate(); // hang up as soon as the ACK is out: BYE through sipws
        },
        ended: (e) => seen.push(['ended', e.originator, e.cause]),
        failed: (e) => seen.push(['failed', e.originator, e.cause, e.message?.status_code]),
      },
    });
    await waitEvent(session, 'ended', { ms: 15000, failOn: ['failed'] }).catch((err) => {
      err.message += `\nJsSIP events: ${JSON.stringify(seen)}`;
      throw err;
    });
    const names = seen.map((x) => x[0]);
    for (const ev of ['progress', 'accepted', 'confirmed', 'ended']) {
      assert.ok(names.includes(ev), `JsSIP did not see '${ev}': ${JSON.stringify(seen)}`);
    }
    assert.deepEqual(seen.find((x) => x[0] === 'progress'), ['progress', 180]);
    assert.deepEqual(seen.find((x) => x[0] === 'accepted'), ['accepted', 200]);
    assert.equal(seen.find((x) => x[0] === 'ended')[1], 'local');

    // SIPp saw INVITE, ACK and BYE and answered the BYE: exit code 0.
    const r = await withTimeout(uas.done, 25000, 'SIPp UAS exit');
    assert.equal(r.code, 0, 'SIPp UAS did not complete the call');

    // The INVITE was challenged once (407), and responses reach JsSIP with only its own Via.
    const responses = ua.socket.received.map(parseSip).filter((m) => /INVITE$/i.test(m.cseq));
    assert.ok(responses.some((m) => m.status === 407), 'INVITE from a local user was not challenged');
    const ok = responses.find((m) => m.status === 200);
    assert.ok(ok, 'no 200 to INVITE on the WebSocket');
    const v = vias(ok);
    assert.equal(v.length, 1, `200 to INVITE carries ${v.length} Via entries: ${v.join(' | ')}`);
    assert.match(v[0], /^SIP\/2\.0\/WSS?\s/i);
  }));

test('(c) a SIPp UAC on UDP calls alice, registered with JsSIP over WS; both sides complete', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { foreignCallers: 'allow' });
    await d.addUser('alice@localhost', 'secret');
    const ua = uaIn(s, { proto: 'ws', port: d.ports.ws, user: 'alice', password: 'secret' });
    const seen = [];
    const incoming = new Promise((resolve) => {
      ua.on('newRTCSession', ({ originator, session, request }) => {
        if (originator !== 'remote') return;
        seen.push(['newRTCSession', request.from.uri.toString()]);
        session.on('accepted', () => seen.push(['accepted']));
        session.on('confirmed', () => {
          seen.push(['confirmed']);
          // Tell the caller that the ACK arrived: SIPp waits for this INFO before its BYE.
          session.sendInfo('application/x-sipws-test', 'confirmed');
        });
        session.on('ended', (e) => seen.push(['ended', e.originator, e.cause]));
        session.on('failed', (e) => seen.push(['failed', e.originator, e.cause]));
        session.answer(kNoMedia);
        resolve(session);
      });
    });
    const registered = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
    ua.start();
    await registered;

    const uac = await sippIn(s, 'uac (udp)', {
      scenario: 'uac_call_info.xml',
      port: await freePort(),
      remote: `127.0.0.1:${d.ports.udp}`,
      keys: { target_uri: 'sip:alice@localhost' },
    });
    const session = await withTimeout(incoming, 10000, 'JsSIP newRTCSession (incoming)');
    await waitEvent(session, 'ended', { ms: 15000, failOn: ['failed'] }).catch((err) => {
      err.message += `\nJsSIP events: ${JSON.stringify(seen)}`;
      throw err;
    });
    const r = await withTimeout(uac.done, 25000, 'SIPp UAC exit');
    assert.equal(r.code, 0, 'SIPp UAC did not complete the call');

    assert.equal(seen[0][1], 'sip:sipp@example.net');
    const names = seen.map((x) => x[0]);
    for (const ev of ['accepted', 'confirmed', 'ended']) {
      assert.ok(names.includes(ev), `JsSIP did not see '${ev}': ${JSON.stringify(seen)}`);
    }
    assert.equal(seen.find((x) => x[0] === 'ended')[1], 'remote', 'the BYE came from SIPp');
  }));

for (const [what, setup] of [
  ['an unknown user', async () => {}],
  ['a subscriber without binding', async (d) => d.addUser('alice@localhost', 'secret')],
]) {
  test(`(c) a SIPp UAC calling ${what} gets 404 or 480`, (t) =>
    withScope(t, async (s) => {
      const d = await daemonIn(s, { foreignCallers: 'allow' });
      await setup(d);
      const uac = await sippIn(s, 'uac reject (udp)', {
        scenario: 'uac_reject.xml',
        port: await freePort(),
        remote: `127.0.0.1:${d.ports.udp}`,
        keys: { target_uri: 'sip:alice@localhost' },
      });
      const r = await withTimeout(uac.done, 25000, 'SIPp UAC exit');
      assert.equal(r.code, 0, 'SIPp UAC expected a 404 or 480 final response');
    }));
}

test('(d) a SIPp UAC on TCP (subscriber alice, 407 then [authentication]) calls a SIPp UAS on UDP through sipws', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    await d.addUser('alice@localhost', 'secret');
    const uasPort = await freePort();
    const uas = await sippIn(s, 'uas (udp)', { scenario: 'uas_call.xml', port: uasPort });
    const uac = await sippIn(s, 'uac alice (tcp, auth)', {
      scenario: 'uac_call_auth.xml',
      transport: 't1',
      port: await freePort(),
      remote: `127.0.0.1:${d.ports.tcp}`,
      keys: { target_uri: `sip:service@127.0.0.1:${uasPort}`, aor_user: 'alice', aor_domain: 'localhost' },
      args: ['-au', 'alice', '-ap', 'secret'],
    });
    const [a, b] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
    assert.equal(a.code, 0, 'SIPp UAC (TCP) did not complete the call');
    assert.equal(b.code, 0, 'SIPp UAS (UDP) did not complete the call');
  }));
