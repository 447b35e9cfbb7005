// Media timeout of the media bridge: an anchored call through which no RTP flows is ended by
// sipws with a BYE to both ends (media_anchor=always anchors plain <-> plain SIPp calls).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn, sippIn } from './lib/fixtures.mjs';
import { freePort } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';
import { withTimeout } from './lib/wait.mjs';

test('media timeout: an anchored call without RTP gets a BYE at both ends and its ports back', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      extraSets: ['media_anchor=always', 'media_timeout=2', 'media_address=127.0.0.1'],
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
    assert.match(d.stderr(), /media: call \S+ ended \(media timeout\)/);
    assert.match(d.stderr(), /media: anchoring call \S+ \(plain caller, plain callee\)/);
  }));
