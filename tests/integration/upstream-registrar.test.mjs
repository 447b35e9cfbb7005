// SBC in front of a legacy PBX (issue 14, upstream registrar mode): Kamailio from Debian's
// packages is the PBX (tests/integration/kamailio/pbx.cfg: registrar with digest auth, every
// INVITE challenged, UDP only), once without Path support (sipws rewrites the Contact) and once
// with it (sipws adds a Path). A JsSIP user registers through sipws over WS with the PBX's
// credentials; a SIPp phone registered straight at the PBX calls that extension and reaches
// the browser through sipws; the browser calls the SIPp phone through sipws and the PBX; the
// browser's WebSocket is cut and the PBX no longer reaches the dead extension.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metric } from './lib/daemon.mjs';
import { daemonIn, registerSippAt, sippIn } from './lib/fixtures.mjs';
import { kNoMedia, makeUA, stopUA } from './lib/jssip.mjs';
import { haveKamailio, kamailioIn } from './lib/kamailio.mjs';
import { freePort } from './lib/ports.mjs';
import { SipClient, endpointIn, parseMessage } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent, waitFor, withTimeout } from './lib/wait.mjs';

const skip = haveKamailio ? false : 'kamailio is not installed (scripts/install-deps.sh --test)';

for (const path of [false, true]) {
  test(`a browser becomes an extension of a Kamailio PBX through sipws (path ${path})`, { skip },
    (t) => withScope(t, async (s) => {
      const pbx = await kamailioIn(s, { pbx: 'pbx.test', defines: path ? ['WITH_PATH'] : [] });
      const upstream = `sip:127.0.0.1:${pbx.ports.udp};transport=udp`;
      const d = await daemonIn(s, {
        extraSets: [`domains=[{"name":"pbx.test","upstream":"${upstream}","path":${path}}]`],
      });

      // 1. The browser registers through sipws with the PBX's credentials (401 from the PBX).
      const ua = makeUA({ proto: 'ws', port: d.ports.ws, user: 'alice', password: 'secret',
        domain: 'pbx.test' });
      s.defer(() => stopUA(ua));
      s.log('JsSIP alice: messages received', () =>
        ua.socket.received.map((m) => m.split('\r\n\r\n')[0]).join('\n\n'));
      const sessions = [];
      ua.on('newRTCSession', ({ originator, session }) => {
        if (originator !== 'remote') return;
        sessions.push(session);
        session.answer(kNoMedia);
      });
      const registered = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
      ua.start();
      await registered;
      const regs = ua.socket.received.map(parseMessage).filter((m) => /REGISTER$/.test(m.get('cseq')));
      assert.ok(regs.some((m) => m.status === 401), 'the PBX did not challenge the REGISTER');
      const ok = regs.find((m) => m.status === 200);
      assert.ok(ok, 'no 200 to REGISTER');
      // The browser sees its own contact in the 200 (JsSIP checks it; it emitted registered).
      assert.ok(ok.all('contact').some((c) => c.includes('.invalid')),
        `the 200 does not list the browser's contact: ${ok.all('contact').join(' | ')}`);
      assert.ok(ok.all('contact').every((c) => !c.includes('sw-u')), 'a rewritten contact leaked');
      assert.equal(await metric(d, 'upstream_registers_forwarded'), 2);

      // 2. A SIPp phone registered at the PBX calls the extension: PBX -> sipws -> browser.
      const bobPort = await freePort();
      await registerSippAt(s, { registrarPort: pbx.ports.udp, user: 'bob', domain: 'pbx.test',
        port: bobPort });
      const call = await sippIn(s, 'bob calls alice at the PBX', {
        scenario: 'uac_call_auth.xml',
        port: await freePort(),
        remote: `127.0.0.1:${pbx.ports.udp}`,
        keys: { target_uri: 'sip:alice@pbx.test', aor_user: 'bob', aor_domain: 'pbx.test' },
        args: ['-au', 'bob', '-ap', 'secret'],
      });
      assert.equal((await withTimeout(call.done, 20000, 'SIPp call to alice')).code, 0,
        'the call from the PBX did not complete');
      assert.equal(sessions.length, 1, 'the browser did not get the call');
      assert.equal(await metric(d, 'upstream_requests_in'), 1);

      // 3. The browser calls the SIPp phone: sipws -> PBX (407, JsSIP authenticates) -> bob.
      const uas = await sippIn(s, 'bob answers', { scenario: 'uas_call.xml', port: bobPort });
      const out = ua.call('sip:bob@pbx.test', kNoMedia);
      await waitEvent(out, 'confirmed', { ms: 15000, failOn: ['failed'] });
      out.terminate();
      assert.equal((await withTimeout(uas.done, 15000, 'SIPp UAS')).code, 0,
        'the call to the SIPp phone did not complete');
      assert.ok(ua.socket.received.map(parseMessage).some(
        (m) => m.status === 407 && /INVITE$/.test(m.get('cseq'))), 'the PBX did not challenge');

      // 4. The WebSocket is cut (JsSIP does not notice: no reconnection, no un-REGISTER of its
      // own): sipws un-registers the extension upstream, and the PBX answers 404 for it.
      ua.socket.disconnect();
      await waitFor(async () => (await metric(d, 'upstream_unregisters_ok')) === 1,
        { ms: 5000, what: 'the un-registration upstream' });
      const ep = await endpointIn(s, 'bob (raw)');
      const bob = new SipClient(ep, { server: { host: '127.0.0.1', port: pbx.ports.udp },
        user: 'bob', domain: 'pbx.test', password: 'secret' });
      const r = await bob.request('INVITE', 'sip:alice@pbx.test', { body: '' });
      assert.equal(r.final.status, 404, `the PBX still reaches the dead extension: ${r.statuses}`);
    }));
}

test('an upstream REGISTER from a stranger gets only the PBX\'s challenge, and nothing is kept',
  { skip }, (t) => withScope(t, async (s) => {
    const pbx = await kamailioIn(s, { pbx: 'pbx.test' });
    const d = await daemonIn(s, {
      extraSets: [`domains=[{"name":"pbx.test","upstream":"sip:127.0.0.1:${pbx.ports.udp}"}]`],
    });
    const ep = await endpointIn(s, 'stranger');
    const c = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp },
      user: 'mallory', domain: 'pbx.test', password: 'wrong' });
    const r = await c.request('REGISTER', 'sip:pbx.test', { headers: ['Expires: 60'] });
    assert.deepEqual(r.statuses.filter((x) => x >= 200), [401, 401],
      'a wrong password must end in the PBX\'s 401');
    // A token from the stranger reaches no browser: a request from a user of the PBX's domain
    // goes to the PBX, which challenges it (407).
    const inv = await c.request('INVITE', `sip:sw-uAAAAAAAAAAAAAAAAAAAAAA@127.0.0.1:${d.ports.udp}`,
      { auth: false, body: '' });
    assert.equal(inv.final.status, 407, `got ${inv.statuses}`);
    assert.equal(await metric(d, 'upstream_requests_in'), 0);
    assert.equal(await metric(d, 'upstream_requests_out'), 1);
  }));
