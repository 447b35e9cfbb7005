// Validates the SIPp scenarios against each other, without sipws: a scenario that is broken on
// its own would make the daemon tests fail for the wrong reason. Also shows that a scenario
// fails (non-zero exit) when the peer does something else than expected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from './lib/daemon.mjs';
import { freePort } from './lib/ports.mjs';
import { scenarioDir, startSipp } from './lib/sipp.mjs';

/** selfcheck_uas_reject.xml with its response code filled in, in a temp dir. */
function rejectScenario(code) {
  const text = fs.readFileSync(path.join(scenarioDir, 'selfcheck_uas_reject.xml'), 'utf8');
  const file = path.join(makeTempDir('sipws-scn-'), `uas_reject_${code}.xml`);
  fs.writeFileSync(file, text.replaceAll('REJECT_CODE', String(code)));
  return file;
}

async function pair(uasOpts, uacOpts) {
  const uas = await startSipp(uasOpts);
  let uac;
  try {
    uac = await startSipp(uacOpts);
    const [a, b] = await Promise.all([uac.done, uas.done]);
    return { uac: a, uas: b, logs: () => `--- UAC ---\n${uac.log()}\n--- UAS ---\n${uas.log()}` };
  } finally {
    await uac?.stop();
    await uas.stop();
  }
}

for (const [name, t] of [['UDP', 'u1'], ['TCP', 't1']]) {
  test(`scenarios: uac_call.xml completes a call with uas_call.xml over ${name}`, async () => {
    const [uasPort, uacPort] = [await freePort(), await freePort()];
    const r = await pair(
      { scenario: 'uas_call.xml', port: uasPort, transport: t },
      {
        scenario: 'uac_call.xml',
        port: uacPort,
        transport: t,
        remote: `127.0.0.1:${uasPort}`,
        keys: { target_uri: `sip:service@127.0.0.1:${uasPort}` },
      },
    );
    assert.equal(r.uac.code, 0, r.logs());
    assert.equal(r.uas.code, 0, r.logs());
  });
}

for (const code of [404, 480, 486]) {
  const ok = code !== 486;
  test(`scenarios: uac_reject.xml ${ok ? 'accepts' : 'fails on'} a ${code}`, async () => {
    const [uasPort, uacPort] = [await freePort(), await freePort()];
    const r = await pair(
      { scenario: rejectScenario(code), port: uasPort },
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
      assert.equal(r.uac.code, 0, r.logs());
      assert.equal(r.uas.code, 0, r.logs());
    } else {
      assert.notEqual(r.uac.code, 0, r.logs());
    }
  });
}

test('scenarios: register.xml answers a digest challenge and checks the echoed Contact', async () => {
  const [regPort, uacPort] = [await freePort(), await freePort()];
  const r = await pair(
    { scenario: 'selfcheck_registrar.xml', port: regPort },
    {
      scenario: 'register.xml',
      port: uacPort,
      remote: `127.0.0.1:${regPort}`,
      keys: { aor_user: 'bob', aor_domain: 'localhost' },
      args: ['-au', 'bob', '-ap', 'secret'],
    },
  );
  assert.equal(r.uac.code, 0, r.logs());
  assert.equal(r.uas.code, 0, r.logs());
});

test('scenarios: uac_call_info.xml waits for the callee INFO before its BYE', async () => {
  const [uasPort, uacPort] = [await freePort(), await freePort()];
  const r = await pair(
    { scenario: 'selfcheck_uas_info.xml', port: uasPort },
    {
      scenario: 'uac_call_info.xml',
      port: uacPort,
      remote: `127.0.0.1:${uasPort}`,
      keys: { target_uri: `sip:alice@127.0.0.1:${uasPort}` },
    },
  );
  assert.equal(r.uac.code, 0, r.logs());
  assert.equal(r.uas.code, 0, r.logs());
});
