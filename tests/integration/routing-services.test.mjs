// Issue 13, "What must be shown" (routing services): PSTN gateways with failover, call classes,
// trusted peers, call forwarding to voicemail, and SIPp's [authentication] for INVITE and
// REGISTER. Gateways and voicemail are SIPp UASs (or a silent Node UDP socket where a gateway
// must say nothing); callers are raw SIP over UDP from Node (lib/rawsip.mjs: every response the
// caller got is recorded with its arrival time) or SIPp; callees are JsSIP over WS.
// One daemon per test: each needs its own gateways / rules, and a daemon starts in well under
// a second.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './lib/daemon.mjs';
import { daemonIn, registerSippContact, sippIn } from './lib/fixtures.mjs';
import { jssipUserIn } from './lib/jssip-user.mjs';
import { kNoMedia } from './lib/jssip.mjs';
import { freePort, freePorts } from './lib/ports.mjs';
import {
  SipClient, endpointIn, parseMessage, param, plainSdp, sippMessages,
} from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const kPassword = 'secret';

/** A gateway entry on 127.0.0.1:port over UDP. */
const gw = (name, port, priority) => ({ name, uri: `sip:127.0.0.1:${port};transport=udp`, priority });

/** `--set` values for the structured keys (JSON). */
const sets = (o) => Object.entries(o).map(([k, v]) => `${k}=${JSON.stringify(v)}`);

/** A raw UDP caller `user`@localhost (a subscriber with kPassword) talking to daemon `d`. */
async function callerIn(s, d, user = 'alice', { host = '127.0.0.1', password = kPassword } = {}) {
  const ep = await endpointIn(s, `caller ${user}`, { host });
  return new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp }, user, password });
}

/** INVITE requests in `received` (raw texts of a JsSIP socket). */
const invitesIn = (texts) => texts.map(parseMessage).filter((m) => m.method === 'INVITE');

/** The `method` requests a JsSIP UA's socket received. */
const requestsOf = (ua, method) => ua.socket.received.map(parseMessage).filter((m) => m.method === method);

/** Runs `sipws ARGS --set store=...` for daemon `d`; asserts exit 0. */
async function cli(d, ...args) {
  const r = await runCli([...args, '--set', `store=${d.store}`]);
  assert.equal(r.code, 0, `sipws ${args.join(' ')} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** Hangs up a call the raw client set up (BYE along the route set); asserts 200. */
async function hangUp(caller, result) {
  assert.ok(result.dialog, `no dialog: final ${result.final.first}`);
  const rsp = await caller.inDialog(result.dialog, 'BYE');
  assert.equal(rsp.status, 200, `BYE got ${rsp.first}`);
}

/** A response list as text for assertion messages. */
const showStatuses = (r) => r.responses.map((x) => x.msg.first).join(' | ');

// ------------------------------------------------------------------ gateways (LCR, failover)

test('gateways: GW1 answers 503 -> the call fails over to GW2, which answers; the caller never sees the 503', (t) =>
  withScope(t, async (s) => {
    const [p1, p2] = await freePorts(2);
    const d = await daemonIn(s, {
      extraSets: sets({
        gateways: [gw('GW1', p1, 1), gw('GW2', p2, 2)],
        routes: [{ match: '^9[0-9]{7,}$', gateways: ['GW1', 'GW2'], failover_on: [408, 503] }],
        gateway_timeout: 2,
      }),
    });
    await d.addUser('alice@localhost', kPassword);
    const gw1 = await sippIn(s, 'GW1 (503)', { scenario: 'uas_reject_503.xml', port: p1 });
    const gw2 = await sippIn(s, 'GW2 (answers)', { scenario: 'uas_call.xml', port: p2 });
    const alice = await callerIn(s, d);

    const r = await alice.request('INVITE', 'sip:912345678@localhost', { body: plainSdp() });
    assert.equal(r.final.status, 200, `caller's final response: ${showStatuses(r)}`);
    assert.ok(r.statuses.includes(407), `a local caller's INVITE was not challenged: ${showStatuses(r)}`);
    // Every response the caller got: a 407 before authentication, then only 1xx and the 200.
    for (const x of r.responses) {
      assert.ok([100, 180, 183, 200, 407].includes(x.msg.status),
        `the caller saw ${x.msg.first} (gateway failover must hide it): ${showStatuses(r)}`);
    }
    await hangUp(alice, r);

    const [a, b] = await withTimeout(Promise.all([gw1.done, gw2.done]), 15000, 'SIPp gateways exit');
    assert.equal(a.code, 0, 'GW1 did not get the INVITE and the ACK of its 503');
    assert.equal(b.code, 0, 'GW2 did not get INVITE, ACK and BYE');
    // Both gateways got the number with their own host:port as Request-URI.
    const inv1 = sippMessages(gw1).find((m) => m.method === 'INVITE');
    const inv2 = sippMessages(gw2).find((m) => m.method === 'INVITE');
    assert.match(inv1?.ruri || '', new RegExp(`^sip:912345678@127\\.0\\.0\\.1:${p1}(;|$)`));
    assert.match(inv2?.ruri || '', new RegExp(`^sip:912345678@127\\.0\\.0\\.1:${p2}(;|$)`));
  }));

test('gateways: GW1 silent -> GW2 gets the INVITE within gateway_timeout + 1 s', (t) =>
  withScope(t, async (s) => {
    const kTimeoutS = 1;
    const p2 = await freePort();
    const gw1 = await endpointIn(s, 'GW1 (silent)');  // records the INVITE, never answers
    const d = await daemonIn(s, {
      extraSets: sets({
        gateways: [gw('GW1', gw1.port, 1), gw('GW2', p2, 2)],
        routes: [{ match: '^9[0-9]{7,}$', gateways: ['GW1', 'GW2'], failover_on: [408, 503] }],
        gateway_timeout: kTimeoutS,
      }),
    });
    await d.addUser('alice@localhost', kPassword);
    const gw2 = await sippIn(s, 'GW2 (answers)', { scenario: 'uas_call.xml', port: p2 });
    const alice = await callerIn(s, d);

    const r = await alice.request('INVITE', 'sip:912345678@localhost', { body: plainSdp(), ms: 10000 });
    assert.equal(r.final.status, 200, `caller's final response: ${showStatuses(r)}`);
    const toGw1 = gw1.received.find((e) => e.msg.method === 'INVITE');
    assert.ok(toGw1, 'GW1 (first by priority) never got the INVITE');
    // The 180 comes from GW2 (SIPp answers 180 at once): GW2 was reached no later than that.
    const ringing = r.responses.find((x) => x.msg.status === 180);
    assert.ok(ringing, `no 180 from GW2: ${showStatuses(r)}`);
    const elapsed = ringing.at - r.lastSentAt;
    assert.ok(elapsed <= (kTimeoutS + 1) * 1000,
      `GW2 reached ${Math.round(elapsed)} ms after the INVITE (gateway_timeout ${kTimeoutS} s)`);
    // Serial, not parallel: GW2 only after GW1 had its gateway_timeout (some slack for timers).
    assert.ok(ringing.at - toGw1.at >= kTimeoutS * 1000 - 100,
      `GW2 answered ${Math.round(ringing.at - toGw1.at)} ms after GW1 got the INVITE: not a failover on timeout`);
    for (const x of r.responses) {
      assert.ok([100, 180, 183, 200, 407].includes(x.msg.status), `the caller saw ${x.msg.first}`);
    }
    await hangUp(alice, r);
    const b = await withTimeout(gw2.done, 15000, 'SIPp GW2 exit');
    assert.equal(b.code, 0, 'GW2 did not get INVITE, ACK and BYE');
  }));

test('gateways: GW1 answers 486 -> the caller gets 486 and GW2 gets nothing', (t) =>
  withScope(t, async (s) => {
    const p1 = await freePort();
    const gw2 = await endpointIn(s, 'GW2 (must receive nothing)');
    const d = await daemonIn(s, {
      extraSets: sets({
        gateways: [gw('GW1', p1, 1), gw('GW2', gw2.port, 2)],
        routes: [{ match: '^9[0-9]{7,}$', gateways: ['GW1', 'GW2'], failover_on: [408, 503] }],
        gateway_timeout: 2,
      }),
    });
    await d.addUser('alice@localhost', kPassword);
    const gw1 = await sippIn(s, 'GW1 (486)', { scenario: 'uas_reject_486.xml', port: p1 });
    const alice = await callerIn(s, d);

    const r = await alice.request('INVITE', 'sip:912345678@localhost', { body: plainSdp() });
    assert.equal(r.final.status, 486, `caller's final response: ${showStatuses(r)}`);
    const a = await withTimeout(gw1.done, 10000, 'SIPp GW1 exit');
    assert.equal(a.code, 0, 'GW1 did not get the INVITE and the ACK of its 486');
    // Barrier: sipws answers an OPTIONS to itself only after it handled everything before it
    // (one io thread), so a failover INVITE to GW2 would have been sent already.
    const opt = await alice.request('OPTIONS', 'sip:localhost', { auth: false });
    assert.ok(opt.final.status >= 200, 'no answer to the OPTIONS barrier');
    // ... and a short quiet window on top (an assertion window, not a synchronisation).
    await assert.rejects(gw2.waitFor(() => true, { ms: 300 }), /timed out/, 'GW2 received a packet');
    assert.equal(gw2.received.length, 0,
      `GW2 received ${gw2.received.length} packet(s):\n${gw2.log()}`);
  }));

// ------------------------------------------------------------------ call classes

test('call classes: 10-digit number -> 403 "No permissions for long distance calls" without group ld; allowed after `sipws group add`', (t) =>
  withScope(t, async (s) => {
    const pLd = await freePort();
    const d = await daemonIn(s, {
      extraSets: sets({
        gateways: [gw('LD', pLd, 1)],
        routes: [{ match: '^[0-9]{10}$', gateways: ['LD'] }],
        call_classes: [{
          name: 'long distance', match: '^[0-9]{10}$', group: 'ld',
          reason: 'No permissions for long distance calls',
        }],
      }),
    });
    await d.addUser('alice@localhost', kPassword);
    const ldGw = await sippIn(s, 'LD gateway', { scenario: 'uas_call.xml', port: pLd });
    const alice = await callerIn(s, d);

    const denied = await alice.request('INVITE', 'sip:0212345678@localhost', { body: plainSdp() });
    assert.equal(denied.final.status, 403, `without group ld: ${showStatuses(denied)}`);
    assert.equal(denied.final.reason, 'No permissions for long distance calls');
    assert.ok(denied.statuses.includes(407), 'the caller was not authenticated first');

    const list0 = await cli(d, 'group', 'list', 'alice@localhost');
    assert.doesNotMatch(list0.stdout, /\bld\b/);
    await cli(d, 'group', 'add', 'alice@localhost', 'ld');
    const list1 = await cli(d, 'group', 'list', 'alice@localhost');
    assert.match(list1.stdout, /alice@localhost ld/);

    // Same daemon (not restarted), same store: the call now goes to the LD gateway.
    const ok = await alice.request('INVITE', 'sip:0212345678@localhost', { body: plainSdp() });
    assert.equal(ok.final.status, 200, `with group ld: ${showStatuses(ok)}`);
    await hangUp(alice, ok);
    const g = await withTimeout(ldGw.done, 10000, 'SIPp LD gateway exit');
    assert.equal(g.code, 0, 'the LD gateway did not get one full call');
    assert.equal(sippMessages(ldGw).filter((m) => m.method === 'INVITE').length >= 1, true);
  }));

// ------------------------------------------------------------------ trusted peers

test('trusted peer: an INVITE from 127.0.0.5 reaches a registered user with no challenge (but no gateway / foreign target without relay); the same INVITE from 127.0.0.1 gets 407', (t) =>
  withScope(t, async (s) => {
    const pstn = await endpointIn(s, 'PSTN gateway (must receive nothing)', { host: '127.0.0.2' });
    const d = await daemonIn(s, {
      extraSets: sets({
        trusted_peers: [{ source: '127.0.0.5', transport: 'udp', name: 'pbx' }],
        gateways: [{ name: 'PSTN', uri: `sip:127.0.0.2:${pstn.port};transport=udp` }],
        routes: [{ match: '^9[0-9]{7,}$', gateways: ['PSTN'] }],
      }),
    });
    const bob = await jssipUserIn(s, d, 'bob', (session) => session.answer(kNoMedia));

    const pbxEp = await endpointIn(s, 'trusted PBX', { host: '127.0.0.5' });
    const pbx = new SipClient(pbxEp, {
      server: { host: '127.0.0.1', port: d.ports.udp }, fromUri: 'sip:+4930123456@pbx.example.net',
    });
    const r = await pbx.request('INVITE', 'sip:bob@localhost', { body: plainSdp('127.0.0.5') });
    assert.equal(r.final.status, 200, `trusted peer's call: ${showStatuses(r)}`);
    assert.ok(!r.statuses.some((x) => x === 401 || x === 407), `trusted peer challenged: ${showStatuses(r)}`);
    assert.equal(bob.invites.length, 1, 'bob did not get the trusted peer\'s INVITE');
    await hangUp(pbx, r);
    // Trusted (no digest) is not "may relay": without `relay` the peer reaches local users only,
    // not a foreign target nor a gateway.
    for (const ruri of [`sip:0044207946000@127.0.0.2:${pstn.port}`, 'sip:912345678@localhost']) {
      const out = await pbx.request('INVITE', ruri, { body: plainSdp('127.0.0.5') });
      assert.equal(out.final.status, 403, `trusted peer (no relay) to ${ruri}: ${showStatuses(out)}`);
    }
    assert.equal(pstn.received.length, 0, `the gateway got ${pstn.received.length} packet(s):\n${pstn.log()}`);

    // The same INVITE from another source address: challenged, and bob gets nothing more.
    const otherEp = await endpointIn(s, 'untrusted copy', { host: '127.0.0.1' });
    const other = new SipClient(otherEp, {
      server: { host: '127.0.0.1', port: d.ports.udp }, fromUri: 'sip:+4930123456@pbx.example.net',
    });
    const r2 = await other.request('INVITE', 'sip:bob@localhost', { body: plainSdp() });
    assert.equal(r2.final.status, 407, `untrusted source: ${showStatuses(r2)}`);
    assert.equal(bob.invites.length, 1, 'bob got an INVITE from the untrusted source');
  }));

// ------------------------------------------------------------------ call forwarding, voicemail

/** A daemon whose voicemail templates point at 127.0.0.1:vmPort (b/u mailbox prefixes). */
async function vmDaemon(s, vmPort) {
  return daemonIn(s, {
    extraSets: sets({
      voicemail: {
        busy: `sip:b{user}@127.0.0.1:${vmPort}`,
        no_answer: `sip:u{user}@127.0.0.1:${vmPort}`,
      },
    }),
  });
}

/** Diversion (RFC 5806) of `msg`, asserted present, naming `aor` with `reason`. */
function assertDiversion(msg, aor, reason, where) {
  const div = msg.all('diversion').join(', ');
  assert.ok(div, `no Diversion header at ${where}:\n${msg.text.split('\r\n\r\n')[0]}`);
  assert.match(div, new RegExp(`sip:${aor.replace('.', '\\.')}`), `Diversion at ${where}: ${div}`);
  assert.equal(param(div, 'reason')?.replace(/"/g, ''), reason, `Diversion at ${where}: ${div}`);
  assert.ok(msg.all('history-info').length > 0,
    `no History-Info (RFC 7044) at ${where}:\n${msg.text.split('\r\n\r\n')[0]}`);
}

test('forwarding: unconditional (`sipws forward set 1001@localhost unconditional sip:bob@localhost`) reaches bob with Diversion, not 1001', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    await d.addUser('alice@localhost', kPassword);
    const u1001 = await jssipUserIn(s, d, '1001', (session) => session.answer(kNoMedia));
    const bob = await jssipUserIn(s, d, 'bob', (session) => session.answer(kNoMedia));
    await cli(d, 'forward', 'set', '1001@localhost', 'unconditional', 'sip:bob@localhost');
    const list = await cli(d, 'forward', 'list', '1001@localhost');
    assert.match(list.stdout, /1001@localhost unconditional sip:bob@localhost/);

    const alice = await callerIn(s, d);
    const r = await alice.request('INVITE', 'sip:1001@localhost', { body: plainSdp() });
    assert.equal(r.final.status, 200, `forwarded call: ${showStatuses(r)}`);
    assert.equal(bob.invites.length, 1, 'bob (the target) did not get the INVITE');
    assert.equal(u1001.invites.length, 0, '1001 got the INVITE although forwarded unconditionally');
    assertDiversion(bob.invites[0], '1001@localhost', 'unconditional', 'bob');
    t.diagnostic(`at bob: ${bob.invites[0].first}; Diversion: ${bob.invites[0].all('diversion').join(', ')}`);
    await hangUp(alice, r);
  }));

test('forwarding: busy -> voicemail; 1001 (JsSIP) rejects with 486, VM gets sip:b1001@ with Diversion user-busy, the caller never sees the 486', (t) =>
  withScope(t, async (s) => {
    const vmPort = await freePort();
    const d = await vmDaemon(s, vmPort);
    await d.addUser('alice@localhost', kPassword);
    const callee = await jssipUserIn(s, d, '1001',
      (session) => session.terminate({ status_code: 486, reason_phrase: 'Busy Here' }));
    await cli(d, 'forward', 'set', '1001@localhost', 'busy', 'voicemail');
    const vm = await sippIn(s, 'voicemail', { scenario: 'uas_call.xml', port: vmPort });

    const alice = await callerIn(s, d);
    const r = await alice.request('INVITE', 'sip:1001@localhost', { body: plainSdp() });
    assert.equal(r.final.status, 200, `busy-forwarded call: ${showStatuses(r)}`);
    assert.ok(!r.statuses.includes(486), `the caller saw the 486: ${showStatuses(r)}`);
    assert.equal(callee.invites.length, 1, '1001 did not get the first INVITE');
    // sipws's client transaction ACKs the 486 (RFC 3261 s.17.1.1.3).
    await waitFor(() => requestsOf(callee, 'ACK').length === 1, { ms: 3000, what: 'the ACK of 1001\'s 486' });
    await hangUp(alice, r);
    const v = await withTimeout(vm.done, 10000, 'SIPp voicemail exit');
    assert.equal(v.code, 0, 'voicemail did not get one full call');
    const inv = sippMessages(vm).find((m) => m.method === 'INVITE');
    assert.match(inv.ruri, new RegExp(`^sip:b1001@127\\.0\\.0\\.1:${vmPort}(;|$)`));
    assertDiversion(inv, '1001@localhost', 'user-busy', 'voicemail');
    t.diagnostic(`at voicemail: ${inv.first}; Diversion: ${inv.all('diversion').join(', ')}; ` +
      `History-Info: ${inv.all('history-info').join(', ')}`);
  }));

test('forwarding: no answer (--ring-timeout 2) -> 1001 is CANCELled, VM gets sip:u1001@ with Diversion no-answer', (t) =>
  withScope(t, async (s) => {
    const vmPort = await freePort();
    const d = await vmDaemon(s, vmPort);
    await d.addUser('alice@localhost', kPassword);
    const ended = [];
    const callee = await jssipUserIn(s, d, '1001', (session) => {
      // never answers; records how the INVITE ended (CANCEL by sipws)
      session.on('failed', (e) => ended.push(['failed', e.originator, e.cause]));
    });
    await cli(d, 'forward', 'set', '1001@localhost', 'no_answer', 'voicemail', '--ring-timeout', '2');
    const list = await cli(d, 'forward', 'list');
    assert.match(list.stdout, /1001@localhost no_answer voicemail ring_timeout=2/);
    const vm = await sippIn(s, 'voicemail', { scenario: 'uas_call.xml', port: vmPort });

    const alice = await callerIn(s, d);
    const r = await alice.request('INVITE', 'sip:1001@localhost', { body: plainSdp(), ms: 10000 });
    assert.equal(r.final.status, 200, `no-answer-forwarded call: ${showStatuses(r)}`);
    for (const x of r.responses) {
      assert.ok([100, 180, 183, 200, 407].includes(x.msg.status), `the caller saw ${x.msg.first}`);
    }
    const rang = r.finalAt - r.lastSentAt;
    assert.ok(rang >= 1900 && rang < 6000, `answered by voicemail ${Math.round(rang)} ms after the INVITE (ring timeout 2 s)`);
    assert.equal(callee.invites.length, 1, '1001 did not get the first INVITE');
    await waitFor(() => ended.length > 0, { ms: 3000, what: '1001\'s INVITE to end (CANCEL)' });
    assert.deepEqual(ended[0], ['failed', 'remote', 'Canceled'], JSON.stringify(ended));
    assert.equal(requestsOf(callee, 'CANCEL').length, 1, '1001 did not get exactly one CANCEL');
    await waitFor(() => requestsOf(callee, 'ACK').length === 1, { ms: 3000, what: 'the ACK of 1001\'s 487' });
    await hangUp(alice, r);
    const v = await withTimeout(vm.done, 10000, 'SIPp voicemail exit');
    assert.equal(v.code, 0, 'voicemail did not get one full call');
    const inv = sippMessages(vm).find((m) => m.method === 'INVITE');
    assert.match(inv.ruri, new RegExp(`^sip:u1001@127\\.0\\.0\\.1:${vmPort}(;|$)`));
    assertDiversion(inv, '1001@localhost', 'no-answer', 'voicemail');
    t.diagnostic(`at voicemail: ${inv.first}; Diversion: ${inv.all('diversion').join(', ')}`);
  }));

test('forwarding: a loop (1001 -> 1002 -> 1001 unconditional) ends with 482 or 480 and reaches nobody', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    await d.addUser('alice@localhost', kPassword);
    const a = await jssipUserIn(s, d, '1001', (session) => session.answer(kNoMedia));
    const b = await jssipUserIn(s, d, '1002', (session) => session.answer(kNoMedia));
    await cli(d, 'forward', 'set', '1001@localhost', 'unconditional', 'sip:1002@localhost');
    await cli(d, 'forward', 'set', '1002@localhost', 'unconditional', 'sip:1001@localhost');

    const alice = await callerIn(s, d);
    const sentInvites = () => (d.stderr().match(/SEND [^\n]*\nINVITE /g) || []).length;
    const before = sentInvites();
    const r = await alice.request('INVITE', 'sip:1001@localhost', { body: plainSdp(), ms: 5000 });
    assert.ok([480, 482].includes(r.final.status), `forward loop ended with ${showStatuses(r)}`);
    t.diagnostic(`forward loop: ${showStatuses(r)}`);
    // Nothing looped out of sipws: no INVITE was sent anywhere (neither user got one).
    assert.equal(sentInvites() - before, 0, 'sipws sent INVITEs for a looping forward');
    assert.equal(a.invites.length + b.invites.length, 0, 'a user in the loop got an INVITE');
    assert.equal(invitesIn(a.socket.received).length + invitesIn(b.socket.received).length, 0);
  }));

// ------------------------------------------------------------------ SIPp [authentication]

test('SIPp [authentication] (digest uri = the address SIPp sends to) authenticates a REGISTER and an INVITE', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    const bobPort = await freePort();
    // REGISTER: 401, then [authentication] -> 200 listing the contact (register.xml).
    await registerSippContact(s, d, 'bob', bobPort);
    const uas = await sippIn(s, 'bob uas', { scenario: 'uas_call.xml', port: bobPort });
    await d.addUser('alice@localhost', kPassword);
    const uac = await sippIn(s, 'alice uac (auth)', {
      scenario: 'uac_call_auth.xml',
      port: await freePort(),
      remote: `127.0.0.1:${d.ports.udp}`,
      keys: { target_uri: 'sip:bob@localhost', aor_user: 'alice', aor_domain: 'localhost' },
      args: ['-au', 'alice', '-ap', kPassword],
    });
    const [a, b] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
    assert.equal(a.code, 0, 'SIPp UAC (407, [authentication], 200, ACK, BYE) failed');
    assert.equal(b.code, 0, 'SIPp UAS (bob) did not get the call');
    // The digest uri SIPp sent is not the Request-URI: the case this test is about.
    const sent = sippMessages(uac, 'sent').filter((m) => m.method === 'INVITE');
    const creds = sent[1]?.get('proxy-authorization') || '';
    const uri = /uri="([^"]*)"/.exec(creds)?.[1];
    assert.ok(uri, `no Proxy-Authorization in SIPp's second INVITE: ${creds}`);
    t.diagnostic(`SIPp digest uri: ${uri} (Request-URI sip:bob@localhost)`);
  }));
