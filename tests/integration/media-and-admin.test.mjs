// Media timeout of the media bridge, and the admin endpoint (/metrics, /health): an anchored call through which no RTP flows is ended by
// sipws with a BYE to both ends (media_anchor=always anchors plain <-> plain SIPp calls). The SIPp
// caller is a trusted trunk (`trusted_peers`, relay) so that sipws relays its call to a SIPp UAS
// at 127.0.0.1:<port>, which is not sipws.
import { test } from 'node:test';
import WebSocket from 'ws';
import assert from 'node:assert/strict';
import { daemonIn, sippIn, sippPeer } from './lib/fixtures.mjs';
import { freePort } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';
import { withTimeout } from './lib/wait.mjs';

test('media timeout: an anchored call without RTP gets a BYE at both ends and its ports back', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      extraSets: ['media_anchor=always', 'media_timeout=2', 'media_address=127.0.0.1'],
      trustedPeers: [sippPeer({ relay: true })],
    });
    const uasPort = await freePort();
    const uas = await sippIn(s, 'uas (udp)', { scenario: 'uas_call.xml', port: uasPort });
    const uac = await sippIn(s, 'uac (udp)', {
      scenario: 'uac_call_wait_bye.xml',
      port: await freePort(),
      remote: `127.0.0.1:${d.ports.udp}`,
      keys: { target_uri: `sip:service@127.0.0.1:${uasPort}` },
    });
    // Both scenarios end only after they received a BYE and answered it.
    const [a, b] = await withTimeout(Promise.all([uac.done, uas.done]), 20000, 'SIPp exits');
    assert.equal(a.code, 0, 'the caller got no BYE');
    assert.equal(b.code, 0, 'the callee got no BYE');
    await d.waitStderr(/media: call \S+ ended \(media timeout\)/);
    await d.waitStderr(/media: anchoring call \S+ \(plain caller, plain callee\)/);
    // The admin endpoint counts it too, and no session is left.
    const metrics = await (await fetch(`http://127.0.0.1:${d.ports.admin}/metrics`)).text();
    assert.match(metrics, /^sipws_media_timeouts 1$/m);
    assert.match(metrics, /^sipws_media_sessions_created 1$/m);
    assert.match(metrics, /^sipws_media_sessions_active 0$/m);
    const health = await fetch(`http://127.0.0.1:${d.ports.admin}/health`);
    assert.equal(health.status, 200);
  }));

test('admin endpoint: /metrics and /health over HTTP; a SIP WebSocket upgrade there is refused', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    const metrics = await fetch(`http://127.0.0.1:${d.ports.admin}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /^# TYPE sipws_media_sessions_active gauge$/m);
    assert.equal((await fetch(`http://127.0.0.1:${d.ports.admin}/nope`)).status, 404);
    const status = await new Promise((resolve) => {
      const ws = new WebSocket(`ws://127.0.0.1:${d.ports.admin}/`, 'sip');
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode));
      ws.once('open', () => {
        ws.terminate();
        resolve(101);
      });
      ws.once('error', () => resolve(-1));
    });
    // The one WebSocket there is the admin events socket (subprotocol sipws-events): 400.
    assert.equal(status, 400);
  }));
