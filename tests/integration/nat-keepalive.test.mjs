// NAT keep-alive (nat_keepalive_interval, issue 14): a UDP phone behind NAT registers a Contact
// with its private address; sipws reaches it through the address its REGISTER came from (the
// pinhole), sends it OPTIONS there every interval, and when three go unanswered marks the
// binding unreachable: a call to it gets 480 at once instead of ringing nothing. An answer to
// the next keep-alive makes it reachable again. (timer_t1=20 makes an unanswered OPTIONS fail
// after 64*T1 = 1.3 s instead of 32 s.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metric } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { buildRequest, buildResponse, endpointIn } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

const kPrivate = 'sip:natphone@192.168.1.20:5060';

/** A MESSAGE to `user` (natphone) from `ep`; resolves with its final status. */
async function messageStatus(d, ep, n, user = 'natphone') {
  const from = ep.received.length;
  await ep.send(buildRequest({
    method: 'MESSAGE',
    ruri: `sip:${user}@localhost`,
    via: `SIP/2.0/UDP 127.0.0.1:${ep.port};branch=z9hG4bK-natmsg-${n}`,
    from: '<sip:caller@localhost>;tag=c1',
    to: `<sip:${user}@localhost>`,
    callId: `natmsg-${n}`,
    cseq: 1,
    body: 'hello',
    contentType: 'text/plain',
  }), d.ports.udp);
  const r = await ep.waitFor((m) => m.status >= 200 && m.get('call-id') === `natmsg-${n}`,
    { from, what: `the answer to MESSAGE ${n}` });
  return r.msg.status;
}

test('NAT keep-alive: OPTIONS through the pinhole; unanswered three times, the binding is ' +
  'unreachable (480); an answer brings it back', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      trace: false,
      extraSets: ['nat_keepalive_interval=1', 'timer_t1=20'],
    });
    const phone = await endpointIn(s, 'phone behind NAT');
    const caller = await endpointIn(s, 'caller');
    let answering = true;
    phone.onRequest = (msg, rinfo) => {
      if (msg.method === 'OPTIONS' && !answering) return;
      phone.send(buildResponse(msg, 200, 'OK'), rinfo.port);
    };
    const from = phone.received.length;
    await phone.send(buildRequest({
      method: 'REGISTER',
      ruri: 'sip:localhost',
      via: 'SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-natreg-1;rport',
      from: '<sip:natphone@localhost>;tag=r1',
      to: '<sip:natphone@localhost>',
      callId: 'natreg',
      cseq: 1,
      contact: `<${kPrivate}>;expires=600`,
    }), d.ports.udp);
    await phone.waitFor((m) => m.status === 200 && m.get('call-id') === 'natreg',
      { from, what: 'the 200 to the REGISTER' });

    // The keep-alive comes to the phone's real address, for its private contact.
    const ka = await phone.waitFor((m) => m.method === 'OPTIONS', { from, what: 'a keep-alive' });
    assert.equal(ka.msg.ruri, kPrivate);
    assert.equal(ka.rinfo.port, d.ports.udp, 'from the listener the phone registered on');
    // Calls reach it through the pinhole too.
    assert.equal(await messageStatus(d, caller, 1), 200);

    answering = false;
    await waitFor(async () => (await metric(d, 'nat_bindings_unreachable')) === 1,
      { ms: 15000, what: 'the binding to turn unreachable' });
    assert.ok(await metric(d, 'nat_keepalive_unanswered') >= 3);
    const t0 = performance.now();
    assert.equal(await messageStatus(d, caller, 2), 480);
    assert.ok(performance.now() - t0 < 1000, 'answered at once');

    answering = true;
    await waitFor(async () => (await messageStatus(d, caller, 3 + Math.floor(performance.now()))) === 200,
      { ms: 10000, what: 'the binding to answer again' });
  }));

test('nat_keepalive_method=crlf: a CRLFCRLF datagram through the pinhole instead of OPTIONS', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      trace: false,
      extraSets: ['nat_keepalive_interval=1', 'nat_keepalive_method=crlf'],
    });
    const phone = await endpointIn(s, 'phone behind NAT');
    phone.onRequest = (msg, rinfo) => phone.send(buildResponse(msg, 200, 'OK'), rinfo.port);
    const from = phone.received.length;
    await phone.send(buildRequest({
      method: 'REGISTER',
      ruri: 'sip:localhost',
      via: 'SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-natcrlf-1;rport',
      from: '<sip:natphone@localhost>;tag=r1',
      to: '<sip:natphone@localhost>',
      callId: 'natcrlf',
      cseq: 1,
      contact: `<${kPrivate}>;expires=600`,
    }), d.ports.udp);
    await phone.waitFor((m) => m.status === 200 && m.get('call-id') === 'natcrlf',
      { from, what: 'the 200 to the REGISTER' });
    const pings = () => phone.received.slice(from).filter((e) => e.msg.text === '\r\n\r\n');
    await waitFor(() => pings().length >= 2, { ms: 5000, what: 'two CRLF keep-alives' });
    assert.equal(pings()[0].rinfo.port, d.ports.udp, 'from the listener the phone registered on');
    assert.ok(!phone.received.some((e) => e.msg.method === 'OPTIONS'), 'no OPTIONS is sent');
    assert.ok(await metric(d, 'nat_keepalive_sent') >= 2);
    assert.equal(await metric(d, 'nat_keepalive_unanswered'), 0, 'a sent ping is not a failure');
  }));

test('a third-party registration (a UA not behind NAT registers another port) is reached at ' +
  'its Contact, and gets no keep-alive (nat_uac_test)', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      trace: false,
      extraSets: ['nat_keepalive_interval=1'],
    });
    const registrar = await endpointIn(s, 'the registering UA');
    const desk = await endpointIn(s, 'the desk phone it registers');
    const caller = await endpointIn(s, 'caller');
    for (const ep of [registrar, desk]) {
      ep.onRequest = (msg, rinfo) => ep.send(buildResponse(msg, 200, 'OK'), rinfo.port);
    }
    const from = registrar.received.length;
    // Its Via names its own address and port: not behind NAT; the Contact is the desk phone.
    await registrar.send(buildRequest({
      method: 'REGISTER',
      ruri: 'sip:localhost',
      via: `SIP/2.0/UDP 127.0.0.1:${registrar.port};branch=z9hG4bK-3preg-1;rport`,
      from: '<sip:desk@localhost>;tag=r1',
      to: '<sip:desk@localhost>',
      callId: '3preg',
      cseq: 1,
      contact: `<sip:desk@127.0.0.1:${desk.port}>;expires=600`,
    }), d.ports.udp);
    await registrar.waitFor((m) => m.status === 200 && m.get('call-id') === '3preg',
      { from, what: 'the 200 to the REGISTER' });
    const deskFrom = desk.received.length;
    const regFrom = registrar.received.length;
    assert.equal(await messageStatus(d, caller, 1, 'desk'), 200);
    assert.ok(desk.received.slice(deskFrom).some((m) => m.msg.method === 'MESSAGE'),
      'the desk phone got the MESSAGE');
    assert.ok(!registrar.received.slice(regFrom).some((m) => m.msg.method === 'MESSAGE'),
      'not the UA that registered it');
    // A phone behind NAT registers too: once it got its keep-alive, a round has run, and the
    // third-party binding had none (its UA is not behind NAT).
    const nat = await endpointIn(s, 'a phone behind NAT');
    nat.onRequest = (msg, rinfo) => nat.send(buildResponse(msg, 200, 'OK'), rinfo.port);
    await nat.send(buildRequest({
      method: 'REGISTER',
      ruri: 'sip:localhost',
      via: 'SIP/2.0/UDP 192.168.1.20:5060;branch=z9hG4bK-3pnat-1;rport',
      from: '<sip:natphone@localhost>;tag=r2',
      to: '<sip:natphone@localhost>',
      callId: '3pnat',
      cseq: 1,
      contact: `<${kPrivate}>;expires=600`,
    }), d.ports.udp);
    await nat.waitFor((m) => m.method === 'OPTIONS', { what: 'the NAT phone\'s keep-alive' });
    for (const ep of [registrar, desk]) {
      assert.ok(!ep.received.some((m) => m.msg.method === 'OPTIONS'), 'no keep-alive for it');
    }
  }));
