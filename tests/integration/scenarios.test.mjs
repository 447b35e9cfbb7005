// Validates the SIPp scenarios against each other, without sipws: a scenario that is broken on
// its own would make the daemon tests fail for the wrong reason. Also shows that a scenario
// fails (non-zero exit) when the peer does something else than expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from './lib/daemon.mjs';
import { sippIn } from './lib/fixtures.mjs';
import { freePort } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';
import { scenarioDir } from './lib/sipp.mjs';

/** selfcheck_uas_reject.xml with its response code filled in, in a temp dir. */
function rejectScenario(s, code) {
  const text = fs.readFileSync(path.join(scenarioDir, 'selfcheck_uas_reject.xml'), 'utf8');
  const dir = makeTempDir('sipws-scn-');
  s.tempDir(dir);
  const file = path.join(dir, `uas_reject_${code}.xml`);
  fs.writeFileSync(file, text.replaceAll('REJECT_CODE', String(code)));
  return file;
}

/** Starts the UAS, then the UAC; resolves both exit results (SIPp logs shown on failure). */
async function pair(s, uasOpts, uacOpts) {
  const uas = await sippIn(s, 'UAS', uasOpts);
  const uac = await sippIn(s, 'UAC', uacOpts);
  const [a, b] = await Promise.all([uac.done, uas.done]);
  return { uac: a, uas: b };
}

for (const [name, transport] of [['UDP', 'u1'], ['TCP', 't1']]) {
  test(`scenarios: uac_call.xml completes a call with uas_call.xml over ${name}`, (t) =>
    withScope(t, async (s) => {
      const [uasPort, uacPort] = [await freePort(), await freePort()];
      const r = await pair(
        s,
        { scenario: 'uas_call.xml', port: uasPort, transport },
        {
          scenario: 'uac_call.xml',
          port: uacPort,
          transport,
          remote: `127.0.0.1:${uasPort}`,
          keys: { target_uri: `sip:service@127.0.0.1:${uasPort}` },
        },
      );
      assert.equal(r.uac.code, 0, 'UAC exit code');
      assert.equal(r.uas.code, 0, 'UAS exit code');
    }));
}

for (const code of [404, 480, 486]) {
  const ok = code !== 486;
  test(`scenarios: uac_reject.xml ${ok ? 'accepts' : 'fails on'} a ${code}`, (t) =>
    withScope(t, async (s) => {
      const [uasPort, uacPort] = [await freePort(), await freePort()];
      const r = await pair(
        s,
        { scenario: rejectScenario(s, code), port: uasPort },
        {
          scenario: 'uac_reject.xml',
          port: uacPort,
          remote: `127.0.0.1:${uasPort}`,
          keys: { target_uri: `sip:alice@127.0.0.1:${uasPort}` },
          // a failing run should not wait for the full receive timeout
          args: ok ? [] : ['-recv_timeout', '2000'],
        },
      );
      if (ok) {
        assert.equal(r.uac.code, 0, 'UAC exit code');
        assert.equal(r.uas.code, 0, 'UAS exit code');
      } else {
        assert.notEqual(r.uac.code, 0, 'the UAC should fail on a 486');
      }
    }));
}

test('scenarios: register.xml answers a digest challenge and checks the echoed Contact', (t) =>
  withScope(t, async (s) => {
    const [regPort, uacPort] = [await freePort(), await freePort()];
    const r = await pair(
      s,
      { scenario: 'selfcheck_registrar.xml', port: regPort },
      {
        scenario: 'register.xml',
        port: uacPort,
        remote: `127.0.0.1:${regPort}`,
        keys: { aor_user: 'bob', aor_domain: 'localhost' },
        args: ['-au', 'bob', '-ap', 'secret'],
      },
    );
    assert.equal(r.uac.code, 0, 'REGISTER client exit code');
    assert.equal(r.uas.code, 0, 'registrar exit code');
  }));

test('scenarios: uac_call_info.xml waits for the callee INFO before its BYE', (t) =>
  withScope(t, async (s) => {
    const [uasPort, uacPort] = [await freePort(), await freePort()];
    const r = await pair(
      s,
      { scenario: 'selfcheck_uas_info.xml', port: uasPort },
      {
        scenario: 'uac_call_info.xml',
        port: uacPort,
        remote: `127.0.0.1:${uasPort}`,
        keys: { target_uri: `sip:alice@127.0.0.1:${uasPort}` },
      },
    );
    assert.equal(r.uac.code, 0, 'UAC exit code');
    assert.equal(r.uas.code, 0, 'UAS exit code');
  }));

// Scenarios of ws-client.test.mjs.

test('scenarios: uas_call_bye.xml hangs up and uac_call_wait_bye.xml gets that BYE', (t) =>
  withScope(t, async (s) => {
    const [uasPort, uacPort] = [await freePort(), await freePort()];
    const r = await pair(
      s,
      { scenario: 'uas_call_bye.xml', port: uasPort },
      {
        scenario: 'uac_call_wait_bye.xml',
        port: uacPort,
        remote: `127.0.0.1:${uasPort}`,
        keys: { target_uri: `sip:service@127.0.0.1:${uasPort}` },
      },
    );
    assert.equal(r.uac.code, 0, 'UAC exit code');
    assert.equal(r.uas.code, 0, 'UAS exit code');
  }));

for (const code of [500, 503, 480]) {
  const ok = code !== 480;
  test(`scenarios: uac_fail_5xx.xml ${ok ? 'accepts' : 'fails on'} a ${code}`, (t) =>
    withScope(t, async (s) => {
      const [uasPort, uacPort] = [await freePort(), await freePort()];
      const r = await pair(
        s,
        { scenario: rejectScenario(s, code), port: uasPort },
        {
          scenario: 'uac_fail_5xx.xml',
          port: uacPort,
          remote: `127.0.0.1:${uasPort}`,
          keys: { target_uri: `sip:bob@127.0.0.1:${uasPort}` },
          args: ok ? [] : ['-recv_timeout', '2000'],
        },
      );
      if (ok) {
        assert.equal(r.uac.code, 0, 'UAC exit code');
        assert.equal(r.uas.code, 0, 'UAS exit code');
      } else {
        assert.notEqual(r.uac.code, 0, 'the UAC should fail on a 480');
      }
    }));
}
