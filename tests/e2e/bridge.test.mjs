// The WebRTC <-> plain RTP media bridge, end to end: the demo page in headless Chromium and a
// UDP "phone" (SIPp for the signalling, tests/e2e/lib/rtp.mjs for its media on the port of its
// SDP: an RTP echo that counts what it gets, and a player of Debian's G.711 pcap).
// (b) the browser calls the phone; (c) the phone calls the browser, answered from the page;
// (d) as (c) with the browser an extension of a Kamailio PBX (upstream registrar mode, issue 14);
// (e) the browser calls a gateway that wants DTMF as SIP INFO and presses keys on the dial pad.
// Both need the media bridge (src/bridge/) and are marked todo until it lands: they run and
// report, but do not fail the suite. The self-checks below them prove the phone side alone
// (scenarios, RTP echo, pcap player, trace parsing) without sipws, so that once the bridge is
// there a failure of (b) or (c) is the bridge's.
//
// What (b) and (c) expect from sipws with media_anchor=auto (the default), media_address=
// 127.0.0.1 and media_ports=LOW-HIGH:
// - the phone sees plain RTP only: m=audio PORT RTP/AVP with G.711 (PCMU 0 / PCMA 8) and
//   telephone-event, c=IN IP4 127.0.0.1, PORT in LOW-HIGH; no a=fingerprint, a=ice-*,
//   a=candidate, a=crypto, a=setup;
// - the browser sees WebRTC: m=audio PORT UDP/TLS/RTP/SAVPF, a=ice-lite, a=ice-ufrag/ice-pwd,
//   a=fingerprint, a=setup, a=rtcp-mux, a host candidate 127.0.0.1 PORT (PORT in LOW-HIGH), the
//   G.711 codec that the phone chose;
// - ICE and DTLS complete (connectionState and dtlsState 'connected'), SRTP <-> RTP is relayed
//   both ways, symmetrically (the bridge sends to the phone from the port of its SDP).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { daemonIn, sippIn, sippPeer } from '../integration/lib/fixtures.mjs';
import { haveKamailio, kamailioIn } from '../integration/lib/kamailio.mjs';
import { freePort } from '../integration/lib/ports.mjs';
import { buildResponse, endpointIn, plainSdp } from '../integration/lib/rawsip.mjs';
import { scenarioDir as itScenarios } from '../integration/lib/sipp.mjs';
import { withScope } from '../integration/lib/scope.mjs';
import { waitFor, withTimeout } from '../integration/lib/wait.mjs';
import {
  browserIn, descriptions, dialFromUi, openPhone, phoneState, signIn, waitBodyState, waitInCall,
  waitMediaFlowing,
} from './lib/browser.mjs';
import { kG711aPcap, readPcapRtp, startRtpPeer } from './lib/rtp.mjs';
import { audioAddress, sipBody, sippMessages } from './lib/sipp-trace.mjs';

const scenarios = path.join(path.dirname(fileURLToPath(import.meta.url)), 'scenarios');
const kPackets = 25; // ~0.5 s of 20 ms audio, ~0.75 s of the 30 ms pcap

/** A media port range of 100 ports for this daemon (random, so that runs do not collide). */
function mediaPortRange() {
  const low = 40000 + 100 * Math.floor(Math.random() * 200);
  return { low, high: low + 99 };
}

/** An RTP peer for the phone's media, closed after the test, summarised if it fails. */
async function rtpPeerIn(s, opts) {
  const peer = await startRtpPeer(opts);
  s.defer(() => peer.close());
  s.log('phone RTP', () => JSON.stringify(peer.summary()));
  return peer;
}

/** Asserts that `sdp` is what a plain SIP phone may be offered / answered by the bridge. */
function assertPlainRtp(sdp, range, what) {
  const a = audioAddress(sdp);
  assert.ok(a, `${what}: no c=IN IP4 / m=audio in\n${sdp}`);
  assert.equal(a.proto, 'RTP/AVP', `${what}: not plain RTP/AVP\n${sdp}`);
  assert.equal(a.host, '127.0.0.1', `${what}: not media_address\n${sdp}`);
  assert.ok(a.port >= range.low && a.port <= range.high, `${what}: port ${a.port} not in media_ports ${range.low}-${range.high}`);
  for (const attr of ['fingerprint', 'ice-ufrag', 'ice-pwd', 'candidate', 'crypto', 'setup', 'ice-lite']) {
    assert.doesNotMatch(sdp, new RegExp(`^a=${attr}`, 'm'), `${what}: a=${attr} offered to a plain phone\n${sdp}`);
  }
  const rtpmaps = [...sdp.matchAll(/^a=rtpmap:(\d+) ([^/\s]+)/gm)].map((m) => [Number(m[1]), m[2].toUpperCase()]);
  for (const pt of a.formats) {
    const name = rtpmaps.find(([p]) => p === pt)?.[1] ?? (pt === 0 ? 'PCMU' : pt === 8 ? 'PCMA' : pt === 9 ? 'G722' : '?');
    assert.ok(['PCMU', 'PCMA', 'G722', 'TELEPHONE-EVENT'].includes(name), `${what}: format ${pt} (${name}) is not G.711/G.722/telephone-event\n${sdp}`);
  }
  return a;
}

/** Asserts that `sdp` (what the browser got from sipws) is the bridge's ICE-lite DTLS-SRTP side. */
function assertBridgeWebRtc(sdp, range, codecPt, what) {
  const m = /^m=audio (\d+) (\S+) ([\d ]+)/m.exec(sdp);
  assert.ok(m, `${what}: no m=audio\n${sdp}`);
  assert.equal(m[2], 'UDP/TLS/RTP/SAVPF', `${what}: not DTLS-SRTP\n${sdp}`);
  for (const re of [/^a=ice-lite/m, /^a=ice-ufrag:\S+/m, /^a=ice-pwd:\S+/m, /^a=fingerprint:sha-256 [0-9A-F:]+/mi, /^a=setup:(active|passive|actpass)/m, /^a=rtcp-mux/m]) {
    assert.match(sdp, re, `${what}: missing ${re}\n${sdp}`);
  }
  const cands = [...sdp.matchAll(/^a=candidate:\S+ 1 udp \d+ (\S+) (\d+) typ host/gim)].map((c) => [c[1], Number(c[2])]);
  assert.ok(cands.some(([ip, port]) => ip === '127.0.0.1' && port >= range.low && port <= range.high),
    `${what}: no host candidate 127.0.0.1 in ${range.low}-${range.high}\n${sdp}`);
  assert.ok(m[3].trim().split(/\s+/).map(Number).includes(codecPt), `${what}: codec ${codecPt} not in m=audio\n${sdp}`);
}

/** The first SIP message SIPp logged that matches `re` (received), waiting for the trace file. */
function sippReceived(handle, re, what) {
  return waitFor(() => sippMessages(handle).find((m) => m.dir === 'received' && re.test(m.text)),
    { ms: 10000, intervalMs: 100, what });
}

test('(b) the browser calls a UDP phone through the media bridge: DTLS connects, RTP flows both ways, hang up from the page', (t) =>
  withScope(t, async (s) => {
    const range = mediaPortRange();
    const d = await daemonIn(s, {
      extraSets: ['media_anchor=auto', 'media_address=127.0.0.1', `media_ports=${range.low}-${range.high}`],
    });
    await d.addUser('alice@localhost', 'alice-pw-1');
    const phoneRtp = await rtpPeerIn(s, { echo: true });
    const uasPort = await freePort();
    const uas = await sippIn(s, 'phone: uas (udp)', {
      scenario: path.join(scenarios, 'uas_phone.xml'), port: uasPort, keys: { rtp_port: phoneRtp.port },
    });
    const browser = await browserIn(s);
    const page = await openPhone(s, browser, d, { name: 'alice' });
    await signIn(page, d, { user: 'alice', password: 'alice-pw-1' });

    await dialFromUi(page, `sip:service@127.0.0.1:${uasPort}`);
    // The phone is offered plain RTP with G.711 on the bridge's port.
    const invite = await sippReceived(uas, /^INVITE /, 'the INVITE at the phone');
    const bridgeAtPhone = assertPlainRtp(sipBody(invite.text), range, 'INVITE at the phone');
    assert.ok(bridgeAtPhone.formats.includes(0), 'PCMU (the phone answers PCMU) not offered to the phone');
    await waitInCall(page);

    const st = await waitMediaFlowing(page, { packets: kPackets });
    t.diagnostic(`browser: ${JSON.stringify(st)}`);
    assert.equal(st.inbound.codec, 'PCMU/8000');
    assert.equal(st.outbound.codec, 'PCMU/8000');
    assertBridgeWebRtc((await descriptions(page)).remote, range, 0, 'answer at the browser');

    // The phone got the browser's audio as plain PCMU RTP from the bridge's SDP address (and
    // echoed all of it: that is what the browser received).
    await waitFor(() => phoneRtp.received >= kPackets, { ms: 5000, what: `${kPackets} RTP packets at the phone` });
    t.diagnostic(`phone: ${JSON.stringify(phoneRtp.summary())}`);
    assert.deepEqual([...phoneRtp.payloadTypes.keys()], [0], 'the phone gets PCMU only');
    assert.deepEqual([...phoneRtp.senders], [`127.0.0.1:${bridgeAtPhone.port}`], 'RTP to the phone comes from the port of the bridge SDP');
    assert.equal(phoneRtp.notRtp, 0, 'the phone got something that is not RTP (SRTP/DTLS/STUN leaked?)');

    // What the phone had echoed before the hang-up: echoes still in flight when the bridge
    // closes are lost, so only those can be expected at sipws.
    const echoedBeforeHangup = phoneRtp.echoed;
    await page.getByTestId('hangup').click();
    await waitBodyState(page, 'call', 'idle');
    const r = await withTimeout(uas.done, 25000, 'SIPp UAS exit');
    assert.equal(r.code, 0, 'the phone did not see INVITE, ACK, BYE');

    // sipws's own counters agree with both ends: its log line of the ended call counts what
    // the phone received (callee leg tx) and what the browser received (caller leg tx), and
    // what each end sent (rx); RTCP goes through the same legs, so sipws counts at least as many.
    const ended = await waitFor(() => /media: call \S+ ended \(BYE\): caller leg rx=(\d+) tx=(\d+) dropped=\d+, callee leg rx=(\d+) tx=(\d+)/.exec(d.stderr()),
      { ms: 5000, what: 'the bridge log line of the ended call' });
    const [callerRx, callerTx, calleeRx, calleeTx] = ended.slice(1).map(Number);
    const final = phoneRtp.summary();
    t.diagnostic(`sipws: caller leg rx=${callerRx} tx=${callerTx}, callee leg rx=${calleeRx} tx=${calleeTx}; phone ${JSON.stringify(final)}`);
    assert.ok(calleeTx >= final.received, `sipws sent ${calleeTx} to the phone, which received ${final.received}`);
    assert.ok(calleeRx >= echoedBeforeHangup, `sipws received ${calleeRx} from the phone, which had sent ${echoedBeforeHangup} before the hang-up`);
    assert.ok(callerRx >= calleeTx, `browser->phone: sipws received ${callerRx} and relayed ${calleeTx}`);
    assert.ok(callerTx >= st.inbound.packetsReceived, `sipws sent ${callerTx} to the browser, which had received ${st.inbound.packetsReceived}`);
  }));

test('(b) hold and resume from the page through the bridge: re-INVITEs become plain sendonly/sendrecv offers, the DTLS association is kept, audio resumes', (t) =>
  withScope(t, async (s) => {
    const range = mediaPortRange();
    const d = await daemonIn(s, {
      extraSets: ['media_anchor=auto', 'media_address=127.0.0.1', `media_ports=${range.low}-${range.high}`],
    });
    await d.addUser('alice@localhost', 'alice-pw-1');
    const phoneRtp = await rtpPeerIn(s, { echo: true });
    const uasPort = await freePort();
    const uas = await sippIn(s, 'phone: uas (udp, hold)', {
      scenario: path.join(scenarios, 'uas_phone_hold.xml'), port: uasPort, keys: { rtp_port: phoneRtp.port },
    });
    const browser = await browserIn(s);
    const page = await openPhone(s, browser, d, { name: 'alice' });
    await signIn(page, d, { user: 'alice', password: 'alice-pw-1' });
    await dialFromUi(page, `sip:service@127.0.0.1:${uasPort}`);
    const invite = await sippReceived(uas, /^INVITE /, 'the INVITE at the phone');
    const bridgeAtPhone = assertPlainRtp(sipBody(invite.text), range, 'INVITE at the phone');
    await waitInCall(page);
    await waitMediaFlowing(page, { packets: kPackets });

    // Hold: JsSIP re-INVITEs with a=sendonly; the phone gets a plain sendonly offer on the same
    // bridge port, and the browser gets the phone's recvonly answer in WebRTC form.
    await page.getByTestId('hold').click();
    await waitFor(async () => (await phoneState(page)).localHold === true, { ms: 10000, what: 'the page on hold' });
    const invites = (n) => waitFor(() => {
      const all = sippMessages(uas).filter((m) => m.dir === 'received' && /^INVITE /.test(m.text));
      return all.length >= n ? all : null;
    }, { ms: 10000, intervalMs: 100, what: `INVITE number ${n} at the phone` });
    const hold = (await invites(2))[1];
    assert.match(sipBody(hold.text), /^a=sendonly\r?$/m, 'the hold re-INVITE is not sendonly');
    const held = assertPlainRtp(sipBody(hold.text), range, 'hold re-INVITE at the phone');
    assert.equal(held.port, bridgeAtPhone.port, 'the hold offer moved the bridge port');
    await waitFor(async () => /^a=recvonly\r?$/m.test((await descriptions(page)).remote || ''),
      { ms: 10000, intervalMs: 100, what: "the phone's recvonly answer at the browser" });

    // Resume: sendrecv again, and audio flows again (the phone echoes the browser).
    await page.getByTestId('hold').click();
    await waitFor(async () => (await phoneState(page)).localHold === false, { ms: 10000, what: 'the page resumed' });
    const resume = (await invites(3))[2];
    assert.match(sipBody(resume.text), /^a=sendrecv\r?$/m, 'the resume re-INVITE is not sendrecv');
    assert.equal(assertPlainRtp(sipBody(resume.text), range, 'resume re-INVITE at the phone').port, bridgeAtPhone.port);
    const st = await waitMediaFlowing(page, { packets: kPackets });
    assert.equal(st.dtlsState, 'connected');
    // One DTLS handshake for the whole call: the re-INVITEs kept the association.
    assert.equal((d.stderr().match(/media: DTLS-SRTP up on port/g) || []).length, 1, 'DTLS was set up again');

    await page.getByTestId('hangup').click();
    await waitBodyState(page, 'call', 'idle');
    const r = await withTimeout(uas.done, 25000, 'SIPp UAS exit');
    assert.equal(r.code, 0, 'the phone did not see INVITE, ACK, hold, resume, BYE');
  }));

/**
 * (c) A UDP phone (SIPp playing Debian's G.711 pcap) calls alice's page, which answers from its
 * UI; audio must flow both ways through the bridge. The phone does not register: it is a trusted
 * peer (`trusted_peers`, UDP from 127.0.0.1 with From sip:sipp@example.net, no relay), as a
 * PSTN gateway or a desk phone on the operator's network, so its INVITE to alice is not challenged. With `lateOffer` the phone sends no SDP in
 * its INVITE: the browser's offer comes to it in the 200, its answer goes back in the ACK.
 */
function phoneCallsBrowser(t, { lateOffer }) {
  return withScope(t, async (s) => {
    const range = mediaPortRange();
    const d = await daemonIn(s, {
      extraSets: ['media_anchor=auto', 'media_address=127.0.0.1', `media_ports=${range.low}-${range.high}`],
      trustedPeers: [sippPeer()],
    });
    await d.addUser('alice@localhost', 'alice-pw-1');
    const browser = await browserIn(s);
    const page = await openPhone(s, browser, d, { name: 'alice' });
    await signIn(page, d, { user: 'alice', password: 'alice-pw-1' });

    const phoneRtp = await rtpPeerIn(s, {});
    const uac = await sippIn(s, `phone: uac (udp${lateOffer ? ', late offer' : ''})`, {
      scenario: path.join(scenarios, lateOffer ? 'uac_phone_late.xml' : 'uac_phone.xml'), port: await freePort(),
      remote: `127.0.0.1:${d.ports.udp}`, keys: { target_uri: 'sip:alice@localhost', rtp_port: phoneRtp.port },
    });
    await waitBodyState(page, 'call', 'ringing', 10000);
    await page.getByTestId('incoming').waitFor({ state: 'visible', timeout: 5000 });
    assert.equal(await page.getByTestId('incoming-caller').textContent(), 'sipp <sipp@example.net>');
    await page.getByTestId('answer').click();
    await waitInCall(page);
    // The phone's 200 carries the bridge's plain side (its answer, or with a late offer the
    // browser's offer); the phone plays its pcap there. The browser has the bridge's WebRTC
    // side with the phone's PCMA (the offer, or with a late offer the answer from the ACK).
    const ok = await sippReceived(uac, /^SIP\/2\.0 200 [\s\S]*CSeq:\s*1 INVITE/i, 'the 200 to INVITE at the phone');
    const bridgeAtPhone = assertPlainRtp(sipBody(ok.text), range, '200 at the phone');
    assert.ok(bridgeAtPhone.formats.includes(8), 'the bridge did not give the phone PCMA');
    await waitFor(async () => /^a=setup:/m.test((await descriptions(page)).remote || ''),
      { ms: 10000, intervalMs: 100, what: "the bridge's WebRTC side at the browser" });
    assertBridgeWebRtc((await descriptions(page)).remote, range, 8, 'the bridge side at the browser');
    const playing = phoneRtp.play(readPcapRtp(kG711aPcap), bridgeAtPhone.host, bridgeAtPhone.port);

    const st = await waitMediaFlowing(page, { packets: kPackets });
    t.diagnostic(`browser: ${JSON.stringify(st)}`);
    assert.equal(st.inbound.codec, 'PCMA/8000', 'the browser does not receive the pcap (PCMA)');
    assert.equal(st.outbound.codec, 'PCMA/8000');
    await waitFor(() => phoneRtp.received >= kPackets, { ms: 5000, what: `${kPackets} RTP packets at the phone` });
    t.diagnostic(`phone: ${JSON.stringify(phoneRtp.summary())}`);
    assert.deepEqual([...phoneRtp.payloadTypes.keys()], [8], 'the phone gets PCMA only');
    assert.deepEqual([...phoneRtp.senders], [`127.0.0.1:${bridgeAtPhone.port}`], 'RTP to the phone comes from the port of the bridge SDP');
    assert.equal(phoneRtp.notRtp, 0, 'the phone got something that is not RTP');

    await page.getByTestId('hangup').click();
    await waitBodyState(page, 'call', 'idle');
    await phoneRtp.close();
    await playing;
    const r = await withTimeout(uac.done, 25000, 'SIPp UAC exit');
    assert.equal(r.code, 0, 'the phone did not complete INVITE/200/ACK, BYE/200');
  });
}

test('(c) a UDP phone calls the browser through the media bridge, answered from the page: DTLS connects, G.711 from a pcap reaches the browser, the browser reaches the phone', (t) =>
  phoneCallsBrowser(t, { lateOffer: false }));

test('(c) a delayed-offer UDP phone (INVITE without SDP) calls the browser: the browser\'s offer in the 200 reaches the phone as plain RTP, the phone\'s answer in the ACK reaches the browser, audio both ways', (t) =>
  phoneCallsBrowser(t, { lateOffer: true }));

// Self-checks of the phone side, without sipws and without a browser.

test('(d) a browser that is an extension of a Kamailio PBX through sipws (upstream registrar mode) is called by a phone at the PBX: answered from the page, audio both ways through the bridge',
  { skip: haveKamailio ? false : 'kamailio is not installed (scripts/install-deps.sh --test)' },
  (t) => withScope(t, async (s) => {
    // The PBX: Kamailio (tests/integration/kamailio/pbx.cfg), the registrar of pbx.test, which
    // challenges every REGISTER and INVITE (password "secret") and relays SDP untouched.
    const pbx = await kamailioIn(s, { pbx: 'pbx.test' });
    const range = mediaPortRange();
    const d = await daemonIn(s, {
      extraSets: [`domains=[{"name":"pbx.test","upstream":"sip:127.0.0.1:${pbx.ports.udp};transport=udp"}]`,
        'media_anchor=auto', 'media_address=127.0.0.1', `media_ports=${range.low}-${range.high}`],
    });
    const browser = await browserIn(s);
    const page = await openPhone(s, browser, d, { name: 'alice' });
    // The page registers alice@pbx.test through sipws with the PBX's credentials.
    await signIn(page, d, { user: 'alice', password: 'secret', domain: 'pbx.test' });

    const phoneRtp = await rtpPeerIn(s, {});
    const uac = await sippIn(s, 'bob at the PBX calls alice', {
      scenario: path.join(scenarios, 'uac_phone_auth.xml'), port: await freePort(),
      remote: `127.0.0.1:${pbx.ports.udp}`,
      keys: { target_uri: 'sip:alice@pbx.test', aor_user: 'bob', aor_domain: 'pbx.test',
        rtp_port: phoneRtp.port },
      args: ['-au', 'bob', '-ap', 'secret'],
    });
    await waitBodyState(page, 'call', 'ringing', 10000);
    await page.getByTestId('answer').click();
    await waitInCall(page);
    // The PBX relays the bridge's plain side to the phone, which plays its pcap there.
    const ok = await sippReceived(uac, /^SIP\/2\.0 200 [\s\S]*CSeq:\s*2 INVITE/i, 'the 200 to INVITE at the phone');
    const bridgeAtPhone = assertPlainRtp(sipBody(ok.text), range, '200 at the phone');
    assert.ok(bridgeAtPhone.formats.includes(8), 'the bridge did not give the phone PCMA');
    const playing = phoneRtp.play(readPcapRtp(kG711aPcap), bridgeAtPhone.host, bridgeAtPhone.port);

    const st = await waitMediaFlowing(page, { packets: kPackets });
    t.diagnostic(`browser: ${JSON.stringify(st)}`);
    assert.equal(st.inbound.codec, 'PCMA/8000', 'the browser does not receive the pcap (PCMA)');
    await waitFor(() => phoneRtp.received >= kPackets, { ms: 5000, what: `${kPackets} RTP packets at the phone` });
    t.diagnostic(`phone: ${JSON.stringify(phoneRtp.summary())}`);
    assert.deepEqual([...phoneRtp.senders], [`127.0.0.1:${bridgeAtPhone.port}`], 'RTP to the phone comes from the bridge');

    await page.getByTestId('hangup').click();
    await waitBodyState(page, 'call', 'idle');
    await phoneRtp.close();
    await playing;
    const r = await withTimeout(uac.done, 25000, 'SIPp UAC exit');
    assert.equal(r.code, 0, 'the phone did not complete INVITE/407/INVITE/200/ACK, BYE/200');
  }));

test('(e) the browser calls a gateway that wants DTMF as SIP INFO: keys pressed on the page\'s dial pad reach it as INFO requests, not as RTP events',
  (t) => withScope(t, async (s) => {
    const range = mediaPortRange();
    const gwHost = '127.0.0.2';
    const gwPort = await freePort();
    const gateways = [{ name: 'PBX', uri: `sip:${gwHost}:${gwPort}`, dtmf: 'info' }];
    const routes = [{ match: '^9[0-9]+$', gateways: ['PBX'] }];
    const d = await daemonIn(s, {
      extraSets: [`gateways=${JSON.stringify(gateways)}`, `routes=${JSON.stringify(routes)}`,
        'media_anchor=auto', 'media_address=127.0.0.1', `media_ports=${range.low}-${range.high}`],
    });
    await d.addUser('alice@localhost', 'alice-pw-1');
    // The gateway: raw SIP over UDP (answers PCMU without telephone-event, 200 to INFO and
    // BYE), its media an RTP echo.
    const gwRtp = await rtpPeerIn(s, { echo: true });
    const gw = await endpointIn(s, 'the gateway', { host: gwHost, port: gwPort });
    gw.onRequest = (msg, rinfo) => {
      if (msg.method === 'ACK') return;
      const invite = msg.method === 'INVITE';
      gw.send(buildResponse(msg, 200, 'OK', {
        toTag: 'pbx1', headers: invite ? [`Contact: <sip:pbx@${gwHost}:${gwPort}>`] : [],
        body: invite ? plainSdp('127.0.0.1', gwRtp.port) : '',
      }), rinfo.port, rinfo.address);
    };
    const browser = await browserIn(s);
    const page = await openPhone(s, browser, d, { name: 'alice' });
    await signIn(page, d, { user: 'alice', password: 'alice-pw-1' });
    await dialFromUi(page, 'sip:95551234@localhost');
    await waitInCall(page);
    await waitMediaFlowing(page, { packets: 5 });
    const invite = gw.received.find((e) => e.msg.method === 'INVITE').msg;
    assert.doesNotMatch(invite.body, /telephone-event/i, 'the gateway is offered no telephone-event');
    assert.match((await descriptions(page)).remote, /^a=rtpmap:\d+ telephone-event\/8000/m,
      'the browser keeps telephone-event, so its dial pad can send RFC 4733');

    await page.getByTestId('dialpad-5').click();
    const infos = () => gw.received.filter((e) => e.msg.method === 'INFO').map((e) => e.msg);
    await waitFor(() => infos().length >= 1, { ms: 5000, what: 'the INFO of key 5' });
    await page.getByTestId('dialpad-hash').click();
    await waitFor(() => infos().length >= 2, { ms: 5000, what: 'the INFO of key #' });
    const [i5, iHash] = infos();
    assert.equal(infos().length, 2, 'one INFO per key press');
    assert.match(i5.body, /^Signal=5\r\nDuration=\d+\r\n$/);
    assert.match(iHash.body, /^Signal=#\r\nDuration=\d+\r\n$/);
    for (const info of [i5, iHash]) {
      assert.equal(info.get('content-type'), 'application/dtmf-relay');
      assert.equal(info.get('call-id'), invite.get('call-id'));
    }
    assert.deepEqual([...gwRtp.payloadTypes.keys()], [0], 'no RFC 4733 packet reached the gateway');

    await page.getByTestId('hangup').click();
    await waitBodyState(page, 'call', 'idle');
    const bye = await gw.waitFor((m) => m.method === 'BYE', { what: 'the BYE at the gateway' });
    const cseq = (m) => Number.parseInt(m.get('cseq'), 10);
    assert.ok(cseq(bye.msg) > cseq(iHash), 'the browser\'s BYE is numbered after the INFOs');
  }));

test('self-check: uas_phone.xml answers a SIPp UAC with PCMU on the RTP peer port', (t) =>
  withScope(t, async (s) => {
    const uasPort = await freePort();
    const uas = await sippIn(s, 'uas_phone', {
      scenario: path.join(scenarios, 'uas_phone.xml'), port: uasPort, keys: { rtp_port: 45678 },
    });
    const uac = await sippIn(s, 'uac_call (integration)', {
      scenario: path.join(itScenarios, 'uac_call.xml'), port: await freePort(),
      remote: `127.0.0.1:${uasPort}`, keys: { target_uri: `sip:service@127.0.0.1:${uasPort}` },
    });
    const [ru, ra] = await Promise.all([uac.done, uas.done]);
    assert.equal(ru.code, 0);
    assert.equal(ra.code, 0);
    const ok = sippMessages(uac).find((m) => m.dir === 'received' && /^SIP\/2\.0 200 [\s\S]*CSeq:\s*1 INVITE/i.test(m.text));
    assert.deepEqual(audioAddress(sipBody(ok.text)), { host: '127.0.0.1', port: 45678, proto: 'RTP/AVP', formats: [0] });
  }));

test('self-check: uac_phone.xml + the pcap player against a SIPp callee with -rtp_echo; the phone counts the echo', (t) =>
  withScope(t, async (s) => {
    const phoneRtp = await rtpPeerIn(s, {});
    const calleePort = await freePort();
    const callee = await sippIn(s, 'selfcheck_callee (-rtp_echo)', {
      scenario: path.join(scenarios, 'selfcheck_callee.xml'), port: calleePort, args: ['-rtp_echo', '-d', '3000'],
    });
    const uac = await sippIn(s, 'uac_phone', {
      scenario: path.join(scenarios, 'uac_phone.xml'), port: await freePort(), remote: `127.0.0.1:${calleePort}`,
      keys: { target_uri: `sip:x@127.0.0.1:${calleePort}`, rtp_port: phoneRtp.port },
    });
    const invite = await sippReceived(callee, /^INVITE /, 'the INVITE at the callee');
    assert.deepEqual(audioAddress(sipBody(invite.text)),
      { host: '127.0.0.1', port: phoneRtp.port, proto: 'RTP/AVP', formats: [8, 101] });
    const ok = await sippReceived(uac, /^SIP\/2\.0 200 [\s\S]*CSeq:\s*1 INVITE/i, 'the 200 at the phone');
    const far = audioAddress(sipBody(ok.text));
    const packets = readPcapRtp(kG711aPcap);
    assert.equal(packets.length, 236);
    const playing = phoneRtp.play(packets, far.host, far.port);
    await waitFor(() => phoneRtp.received >= kPackets, { ms: 5000, what: 'the echo of the pcap' });
    assert.deepEqual([...phoneRtp.payloadTypes.keys()], [8]);
    assert.deepEqual([...phoneRtp.senders], [`127.0.0.1:${far.port}`]);
    const [rc, ru] = await Promise.all([callee.done, uac.done]);
    assert.equal(rc.code, 0, 'callee');
    assert.equal(ru.code, 0, 'uac_phone');
    await phoneRtp.close();
    await playing;
  }));
