// (f) Bindings survive a restart: SIPp registers over UDP (digest), sipws stops on SIGTERM with
// exit code 0, starts again on the same store and ports, and a call to the AOR reaches a SIPp
// UAS listening on the registered contact. The caller is of another domain (sip:sipp@example.net);
// both runs federate (`foreign_callers=allow`), so it reaches bob without a challenge.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn, sippIn } from './lib/fixtures.mjs';
import { freePort } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';
import { withTimeout } from './lib/wait.mjs';

test('(f) a UDP binding survives SIGTERM and restart on the same store', (t) =>
  withScope(t, async (s) => {
    const d1 = await daemonIn(s, { foreignCallers: 'allow' });
    await d1.addUser('bob@localhost', 'secret');

    // Register from the port that the UAS will use later, so the contact and the source match.
    const uasPort = await freePort();
    const reg = await sippIn(s, 'register (udp)', {
      scenario: 'register.xml',
      port: uasPort,
      remote: `127.0.0.1:${d1.ports.udp}`,
      keys: { aor_user: 'bob', aor_domain: 'localhost' },
      args: ['-au', 'bob', '-ap', 'secret'],
    });
    const rr = await withTimeout(reg.done, 25000, 'SIPp REGISTER exit');
    assert.equal(rr.code, 0, 'REGISTER (401 then 200 with our Contact) did not succeed');

    const stopped = await d1.stop();
    assert.deepEqual(stopped, { code: 0, signal: null }, 'SIGTERM should give a clean exit 0');

    const d2 = await daemonIn(s, { dir: d1.dir, ports: d1.ports, foreignCallers: 'allow' });
    const uas = await sippIn(s, 'uas after restart (udp)', { scenario: 'uas_call.xml', port: uasPort });
    const uac = await sippIn(s, 'uac after restart (udp)', {
      scenario: 'uac_call.xml',
      port: await freePort(),
      remote: `127.0.0.1:${d2.ports.udp}`,
      keys: { target_uri: 'sip:bob@localhost' },
    });
    const [a, b] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
    assert.equal(b.code, 0, 'the SIPp UAS on the registered contact did not complete the call');
    assert.equal(a.code, 0, 'the SIPp UAC did not complete the call');
  }));
