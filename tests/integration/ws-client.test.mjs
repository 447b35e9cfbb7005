// The outbound WebSocket client (RFC 7118 client role): sipws dials WS/WSS servers itself.
// (1) against a second sipws: daemon B is the registrar of bob (a SIPp UAS registered over
//     UDP); daemon A reaches B only over WebSocket (a configured peer, or opened on demand).
// (2) against Kamailio's websocket module as the WS(S) server, registrar and proxy.
// The caller is a SIPp UAC of another domain (sip:sipp@example.net) that A relays for as a
// trusted trunk (`trusted_peers` with relay, UDP from 127.0.0.1 with that From only); B federates
// (`foreign_callers=allow`), so the caller reaches its user bob and nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { makeTempDir } from './lib/daemon.mjs';
import { daemonIn, registerSippContact, sippIn, sippPeer } from './lib/fixtures.mjs';
import { haveKamailio, haveKamailioTls, kamailioIn } from './lib/kamailio.mjs';
import { freePort } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

/** A's trusted_peers: the SIPp UAC (UDP, From sip:sipp@example.net) may relay through A. */
const kTrunk = [sippPeer({ relay: true })];

/** Lines of `log` matching `re` (global). */
function count(log, re) {
  return (log.match(re) || []).length;
}

/** The SIP requests A sent (--trace `SEND` lines) to `hostport` over `proto`, as methods. */
function sentMethods(log, proto, hostport) {
  const out = [];
  const re = new RegExp(`SEND ${proto} ${hostport.replace(/\./g, '\\.')} flow=\\d+ \\d+ bytes\\n([A-Z]+) `, 'g');
  for (const m of log.matchAll(re)) out.push(m[1]);
  return out;
}

/** Waits for A's log line saying its client flow to `hostport` is open; returns the flow id. */
async function clientFlowOpen(daemon, proto, hostport, ms = 10000) {
  const re = new RegExp(`${proto} client flow (\\d+) open to ${hostport.replace(/\./g, '\\.')}/`);
  const m = await waitFor(() => daemon.stderr().match(re), {
    ms,
    what: `${proto} client flow to ${hostport} in sipws A's log`,
  });
  return Number(m[1]);
}

test('(1) sipws A reaches registrar B only over a configured WS peer: INVITE/ACK/BYE on one reused client flow', (t) =>
  withScope(t, async (s) => {
    const b = await daemonIn(s, { foreignCallers: 'allow' });
    const uasPort = await freePort();
    await registerSippContact(s, b, 'bob', uasPort);
    const uas = await sippIn(s, 'uas (udp, registered at B)', { scenario: 'uas_call.xml', port: uasPort });

    const bWs = `127.0.0.1:${b.ports.ws}`;
    const a = await daemonIn(s, { trustedPeers: kTrunk, extraSets: [`ws_peers=ws://${bWs}/`] });
    await clientFlowOpen(a, 'WS', bWs);
    // B sees it as an ordinary WS flow from A.
    await waitFor(() => count(b.stderr(), /WS flow \d+ open from 127\.0\.0\.1:\d+/g) === 1, {
      what: "B's log: one WS flow open",
    });

    const uac = await sippIn(s, 'uac (udp, calls via A)', {
      scenario: 'uac_call.xml',
      port: await freePort(),
      remote: `127.0.0.1:${a.ports.udp}`,
      keys: { target_uri: `sip:bob@${bWs};transport=ws` },
    });
    const [r1, r2] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
    assert.equal(r1.code, 0, 'SIPp UAC did not complete the call through A and B');
    assert.equal(r2.code, 0, 'SIPp UAS (registered at B) did not complete the call');

    // Responses came back on that flow (A's RECV lines from B's WS endpoint). A logs them before
    // relaying, but its stderr may still be in the pipe when SIPp exits: wait for the lines.
    const recv200 = new RegExp(`RECV WS ${bWs.replace(/\./g, '\\.')} flow=\\d+ \\d+ bytes\\nSIP/2\\.0 200`, 'g');
    await waitFor(() => count(a.stderr(), recv200) >= 2, {
      what: "A's log: the 200s to INVITE and BYE received from B over WS",
    });
    const log = a.stderr();
    // One outbound connection, opened at start and reused for INVITE, ACK and BYE.
    assert.equal(count(log, /WS client flow \d+ open/g), 1, 'A opened more than one WS client flow');
    assert.equal(count(log, /client connection to .* failed/g), 0);
    const methods = sentMethods(log, 'WS', bWs);
    for (const m of ['INVITE', 'ACK', 'BYE']) {
      assert.ok(methods.includes(m), `A did not send ${m} to B over WS: ${methods.join(',')}`);
    }
    // Via of the requests A sent over the client flow: SIP/2.0/WS with A's host (RFC 7118 s.5.2).
    assert.match(log, new RegExp(`SEND WS ${bWs.replace(/\./g, '\\.')} flow=\\d+ \\d+ bytes\\nINVITE [^\\n]*\\nVia: SIP/2\\.0/WS 127\\.0\\.0\\.1:${a.ports.ws};`));
    assert.equal(count(b.stderr(), /WS flow \d+ open from/g), 1, 'B saw more than one connection');
    // A WS server is not a browser: the plain offer went to B as it was (no WebRTC rewrite).
    assert.doesNotMatch(log, /media: anchoring call/);
  }));

test('(1b) without ws_peers, A dials B on demand for a transport=ws target and reuses that flow', (t) =>
  withScope(t, async (s) => {
    const b = await daemonIn(s, { foreignCallers: 'allow' });
    const uasPort = await freePort();
    await registerSippContact(s, b, 'bob', uasPort);
    const uas = await sippIn(s, 'uas (udp, registered at B)', { scenario: 'uas_call.xml', port: uasPort });
    const a = await daemonIn(s, { trustedPeers: kTrunk });
    const bWs = `127.0.0.1:${b.ports.ws}`;
    const uac = await sippIn(s, 'uac (udp, calls via A)', {
      scenario: 'uac_call.xml',
      port: await freePort(),
      remote: `127.0.0.1:${a.ports.udp}`,
      keys: { target_uri: `sip:bob@${bWs};transport=ws` },
    });
    const [r1, r2] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
    assert.equal(r1.code, 0, 'SIPp UAC did not complete the call');
    assert.equal(r2.code, 0, 'SIPp UAS did not complete the call');
    assert.equal(count(a.stderr(), /WS client flow \d+ open/g), 1);
    assert.equal(count(b.stderr(), /WS flow \d+ open from/g), 1);
  }));

test('(1e) bob hangs up: B sends the BYE back over the connection A opened (flow token), not a new one', (t) =>
  withScope(t, async (s) => {
    const b = await daemonIn(s, { foreignCallers: 'allow' });
    const uasPort = await freePort();
    await registerSippContact(s, b, 'bob', uasPort);
    const uas = await sippIn(s, 'uas (udp, hangs up)', { scenario: 'uas_call_bye.xml', port: uasPort });
    const bWs = `127.0.0.1:${b.ports.ws}`;
    const a = await daemonIn(s, { trustedPeers: kTrunk, extraSets: [`ws_peers=ws://${bWs}/`] });
    await clientFlowOpen(a, 'WS', bWs);
    const uac = await sippIn(s, 'uac (udp, waits for the BYE)', {
      scenario: 'uac_call_wait_bye.xml',
      port: await freePort(),
      remote: `127.0.0.1:${a.ports.udp}`,
      keys: { target_uri: `sip:bob@${bWs};transport=ws` },
    });
    const [r1, r2] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
    assert.equal(r1.code, 0, 'the caller did not get the BYE');
    assert.equal(r2.code, 0, "bob's BYE did not get its 200");
    // B answered over A's connection: B dialled nothing, A accepted nothing on its WS listener.
    assert.equal(count(b.stderr(), /client flow \d+: connecting/g), 0, 'B dialled A');
    assert.equal(count(a.stderr(), /WS flow \d+ open from/g), 0, 'A got a second connection');
    assert.match(a.stderr(), new RegExp(`RECV WS ${bWs.replace(/\./g, '\\.')} flow=\\d+ \\d+ bytes\\nBYE `));
  }));

test('(1c) a WS next hop that cannot be connected fails the call at once (500), not after Timer B', (t) =>
  withScope(t, async (s) => {
    const a = await daemonIn(s, { trustedPeers: kTrunk });
    const dead = await freePort(); // nothing listens there
    const started = Date.now();
    const uac = await sippIn(s, 'uac (expects 5xx)', {
      scenario: 'uac_fail_5xx.xml',
      port: await freePort(),
      remote: `127.0.0.1:${a.ports.udp}`,
      keys: { target_uri: `sip:bob@127.0.0.1:${dead};transport=ws` },
    });
    const r = await withTimeout(uac.done, 25000, 'SIPp exit');
    assert.equal(r.code, 0, 'SIPp UAC expected 500/503');
    assert.ok(Date.now() - started < 10000, 'the failure took as long as a transaction timeout');
    assert.match(a.stderr(), /WS client connection to 127\.0\.0\.1:\d+\/ failed/);
  }));

test('(1d) a browser contact (*.invalid, transport=ws) is never dialled: 480', (t) =>
  withScope(t, async (s) => {
    const a = await daemonIn(s, { trustedPeers: kTrunk });
    const uac = await sippIn(s, 'uac reject', {
      scenario: 'uac_reject.xml',
      port: await freePort(),
      remote: `127.0.0.1:${a.ports.udp}`,
      keys: { target_uri: 'sip:alice@k3j4h5g6.invalid;transport=ws' },
    });
    const r = await withTimeout(uac.done, 25000, 'SIPp exit');
    assert.equal(r.code, 0, 'SIPp UAC expected 480');
    assert.equal(count(a.stderr(), /client flow \d+: connecting/g), 0);
  }));

for (const secure of [false, true]) {
  const proto = secure ? 'WSS' : 'WS';
  const skip = !haveKamailio
    ? 'kamailio + kamailio-websocket-modules not installed'
    : secure && !haveKamailioTls
      ? 'kamailio-tls-modules not installed'
      : false;
  test(`(2) sipws forwards OPTIONS and a call over ${proto} to Kamailio (websocket module), where bob registered over UDP`, { skip }, (t) =>
    withScope(t, async (s) => {
      // A's dev certificate is Kamailio's server certificate and A's trusted CA for WSS.
      const aDir = makeTempDir();
      const certDir = path.join(aDir, 'certs');
      const cert = path.join(certDir, 'sipws-dev.crt');
      const key = path.join(certDir, 'sipws-dev.key');
      const kamPorts = { udp: 0, ws: 0, wss: 0 };
      // WSS: Kamailio serves the certificate A creates at its first start, so A runs once to
      // create it, then Kamailio starts with it, then A again (same dir) with the peer and
      // that certificate as its extra CA.
      let a;
      let kam;
      if (secure) {
        const first = await daemonIn(s, { dir: aDir, extraSets: [`dev_cert_dir=${certDir}`] });
        await first.stop();
        kam = await kamailioIn(s, { tls: { cert, key } });
        Object.assign(kamPorts, kam.ports);
        a = await daemonIn(s, {
          dir: aDir,
          trustedPeers: kTrunk,
          extraSets: [`dev_cert_dir=${certDir}`, `ws_client_ca_file=${cert}`,
            `ws_peers=wss://127.0.0.1:${kamPorts.wss}/`],
        });
      } else {
        kam = await kamailioIn(s);
        Object.assign(kamPorts, kam.ports);
        a = await daemonIn(s, { dir: aDir, trustedPeers: kTrunk, extraSets: [`ws_peers=ws://127.0.0.1:${kamPorts.ws}/`] });
      }
      const kWs = `127.0.0.1:${secure ? kamPorts.wss : kamPorts.ws}`;
      await clientFlowOpen(a, proto, kWs);

      // OPTIONS to Kamailio itself, through A over the WebSocket.
      const opt = await sippIn(s, 'uac options (via A)', {
        scenario: 'uac_options.xml',
        port: await freePort(),
        remote: `127.0.0.1:${a.ports.udp}`,
        keys: { target_uri: `sip:${kWs};transport=${proto.toLowerCase()}` },
      });
      assert.equal((await withTimeout(opt.done, 25000, 'SIPp OPTIONS exit')).code, 0,
        'OPTIONS through A to Kamailio did not get 200');

      // bob registers at Kamailio over UDP from the port where the UAS then listens.
      const uasPort = await freePort();
      const reg = await sippIn(s, 'register bob at kamailio (udp)', {
        scenario: 'register_noauth.xml',
        port: uasPort,
        remote: `127.0.0.1:${kamPorts.udp}`,
        keys: { registrar_uri: `sip:127.0.0.1:${kamPorts.udp}`, aor_user: 'bob', aor_domain: '127.0.0.1' },
      });
      assert.equal((await withTimeout(reg.done, 25000, 'SIPp REGISTER exit')).code, 0,
        'bob could not register at Kamailio');
      const uas = await sippIn(s, 'uas (udp, registered at kamailio)', { scenario: 'uas_call.xml', port: uasPort });

      const uac = await sippIn(s, 'uac (udp, calls via A)', {
        scenario: 'uac_call.xml',
        port: await freePort(),
        remote: `127.0.0.1:${a.ports.udp}`,
        keys: { target_uri: `sip:bob@${kWs};transport=${proto.toLowerCase()}` },
      });
      const [r1, r2] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
      assert.equal(r1.code, 0, 'SIPp UAC did not complete the call through A and Kamailio');
      assert.equal(r2.code, 0, 'SIPp UAS (registered at Kamailio) did not complete the call');

      const log = a.stderr();
      assert.equal(count(log, new RegExp(`${proto} client flow \\d+ open`, 'g')), 1,
        'A opened more than one client flow to Kamailio');
      // In-dialog requests follow Kamailio's Record-Route, which names its WSS socket with
      // `transport=ws` (RFC 7118 s.5.2 has no `wss` parameter): A logs them as WS, and sends
      // them over its WSS flow to that address (one flow, asserted above).
      const methods = sentMethods(log, secure ? 'WSS?' : 'WS', kWs);
      for (const m of ['OPTIONS', 'INVITE', 'ACK', 'BYE']) {
        assert.ok(methods.includes(m), `A did not send ${m} to Kamailio over ${proto}: ${methods.join(',')}`);
      }
      assert.doesNotMatch(log, /media: anchoring call/, 'a WS server was taken for a browser');
      // Kamailio saw the requests arrive over its WebSocket.
      const klog = kam.log();
      assert.match(klog, new RegExp(`request INVITE sip:bob@[^ ]+ from 127\\.0\\.0\\.1:\\d+ over ${proto.toLowerCase()}`));
      assert.match(klog, new RegExp(`request BYE [^ ]+ from 127\\.0\\.0\\.1:\\d+ over ${proto.toLowerCase()}`));
    }));
}
