// Bounded per client (max_send_queue, issue 18): a WebSocket client and a TCP client register,
// then stop reading while MESSAGEs are sent to them over UDP. Once what waits for a peer would
// pass max_send_queue, sipws drops that flow (counted) instead of holding more: later requests
// for the WebSocket AOR are answered at once (480: its binding went with the flow), those for the
// TCP AOR too (500: its contact refuses the new connection sipws dials), sipws's
// memory stays bounded, and another client registers as before all along.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { metric } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { buildRequest, endpointIn, parseMessage } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

const kQueueCap = 65536;
const kBody = 'x'.repeat(30000);

/** Resident memory of process `pid`, kB. */
function rssKb(pid) {
  return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

/** A REGISTER of `user`@localhost with Contact `contact`, sent over `via` (WS or TCP). */
function register(user, via, contact, cseq = 1) {
  return buildRequest({
    method: 'REGISTER',
    ruri: 'sip:localhost',
    via: `SIP/2.0/${via};branch=z9hG4bK-${user}-${cseq}`,
    from: `<sip:${user}@localhost>;tag=t-${user}`,
    to: `<sip:${user}@localhost>`,
    callId: `reg-${user}`,
    cseq,
    contact: `<${contact}>;expires=600`,
  });
}

/**
 * Sends 30 kB MESSAGEs to `user`@localhost from UDP endpoint `ep` (10 in flight) until `done()`
 * holds (checked after each batch) or 600 were sent. Resolves with how many were sent.
 */
async function flood(d, ep, user, done) {
  let sent = 0;
  while (sent < 600 && !(await done())) {
    for (let i = 0; i < 10; i++, sent++) {
      await ep.send(buildRequest({
        method: 'MESSAGE',
        ruri: `sip:${user}@localhost`,
        via: `SIP/2.0/UDP 127.0.0.1:${ep.port};branch=z9hG4bK-m-${user}-${sent}`,
        from: `<sip:flood@localhost>;tag=f${sent}`,
        to: `<sip:${user}@localhost>`,
        callId: `m-${user}-${sent}`,
        cseq: 1,
        body: kBody,
        contentType: 'text/plain',
      }), d.ports.udp);
    }
  }
  return sent;
}

/** A MESSAGE to `user` from `ep`; resolves with its final status. */
async function messageStatus(d, ep, user, n) {
  const from = ep.received.length;
  await ep.send(buildRequest({
    method: 'MESSAGE',
    ruri: `sip:${user}@localhost`,
    via: `SIP/2.0/UDP 127.0.0.1:${ep.port};branch=z9hG4bK-probe-${user}-${n}`,
    from: '<sip:probe@localhost>;tag=p1',
    to: `<sip:${user}@localhost>`,
    callId: `probe-${user}-${n}`,
    cseq: 1,
    body: 'still there?',
    contentType: 'text/plain',
  }), d.ports.udp);
  const r = await ep.waitFor((m) => m.status >= 200 && m.get('call-id') === `probe-${user}-${n}`,
    { from, what: `the answer to the probe MESSAGE to ${user}` });
  return r.msg.status;
}

/** Milliseconds a REGISTER over UDP from `ep` takes to be answered 200. */
async function registerLatency(d, ep, n) {
  const from = ep.received.length;
  const t0 = performance.now();
  await ep.send(register('steady', `UDP 127.0.0.1:${ep.port}`, `sip:steady@127.0.0.1:${ep.port}`, n),
    d.ports.udp);
  await ep.waitFor((m) => m.status === 200 && m.get('cseq') === `${n} REGISTER`,
    { from, what: `steady's REGISTER ${n}` });
  return performance.now() - t0;
}

test('a client that stops reading is dropped at max_send_queue (WS and TCP); memory stays ' +
  'bounded; others are served as before', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      trace: false,
      extraSets: ['threads=1', `max_send_queue=${kQueueCap}`, 'ws_first_message_timeout=0'],
    });
    const flooder = await endpointIn(s, 'flooder');
    const steady = await endpointIn(s, 'steady');
    const before = [];
    for (let i = 1; i <= 5; i++) before.push(await registerLatency(d, steady, i));

    // The WebSocket client: registers, then stops reading its socket.
    const ws = new WebSocket(`ws://127.0.0.1:${d.ports.ws}`, ['sip']);
    s.defer(() => ws.terminate());
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const wsAnswers = [];
    ws.on('message', (data) => wsAnswers.push(parseMessage(data.toString('latin1'))));
    ws.send(register('wsslow', 'WS slow.invalid', 'sip:wsslow@slow.invalid;transport=ws'));
    await waitFor(() => wsAnswers.some((m) => m.status === 200), { what: "wsslow's 200" });

    // The TCP client, the same.
    const tcp = net.connect(d.ports.tcp, '127.0.0.1');
    s.defer(() => tcp.destroy());
    await new Promise((resolve, reject) => { tcp.once('connect', resolve); tcp.once('error', reject); });
    let tcpText = '';
    tcp.on('data', (b) => { tcpText += b.toString('latin1'); });
    tcp.write(register('tcpslow', `TCP 127.0.0.1:${tcp.localPort}`,
      `sip:tcpslow@127.0.0.1:${tcp.localPort};transport=tcp`));
    await waitFor(() => /^SIP\/2\.0 200 /m.test(tcpText), { what: "tcpslow's 200" });

    ws._socket.pause();
    tcp.pause();
    const rss0 = rssKb(d.pid);
    const wsSent = await flood(d, flooder, 'wsslow',
      async () => (await metric(d, 'ws_send_queue_overflows')) > 0);
    const tcpSent = await flood(d, flooder, 'tcpslow',
      async () => (await metric(d, 'transport_send_queue_overflows')) > 0);
    assert.equal(await metric(d, 'ws_send_queue_overflows'), 1, `after ${wsSent} MESSAGEs`);
    // (The TCP binding is reached through its contact again once its flow is gone: sipws dials
    // the client's port, and the MESSAGEs queued on that new connection may overflow it too.)
    assert.ok(await metric(d, 'transport_send_queue_overflows') >= 1, `after ${tcpSent} MESSAGEs`);
    const grown = rssKb(d.pid) - rss0;
    t.diagnostic(`WS dropped after ${wsSent} MESSAGEs, TCP after ${tcpSent}; RSS +${grown} kB`);
    // What sipws holds is the cap per flow plus the MESSAGEs' transactions (their requests,
    // 30 kB each, kept until Timer F): far below what was sent (about 30 MB at most). Under
    // AddressSanitizer freed memory stays in its quarantine (256 MB), so RSS says nothing there.
    const sanitized = fs.readFileSync(`/proc/${d.pid}/maps`, 'utf8').includes('libasan');
    if (!sanitized) assert.ok(grown < 48 * 1024, `RSS grew by ${grown} kB`);

    // The WebSocket AOR is unreachable at once now, not after a timeout: its binding went with
    // its flow (480). A plain TCP binding is dialled again at its contact, which refuses the
    // connection: that is reported to the transaction layer, so the request is answered now,
    // not at Timer F (32 s): 500, the transport error being a 503 that a proxy does not pass on
    // (RFC 3261 s.16.7 step 6, s.16.9).
    assert.equal(await messageStatus(d, steady, 'wsslow', 1), 480);
    const t0 = performance.now();
    assert.equal(await messageStatus(d, steady, 'tcpslow', 1), 500);
    assert.ok(performance.now() - t0 < 5000, `answered after ${performance.now() - t0} ms`);
    const after = [];
    for (let i = 6; i <= 10; i++) after.push(await registerLatency(d, steady, i));
    t.diagnostic(`steady REGISTER ms before: ${before.map(Math.round)}, after: ${after.map(Math.round)}`);
    assert.ok(Math.max(...after) < 1000, `REGISTER latency after the drops: ${after}`);
    assert.equal(d.proc.exitCode, null);
  }));
