// sipws-load (tools/load/) against the real daemon: register over WS (auth=off, then digest with
// the 401 round trip), call mode WS -> a SIPp UAS, answer mode called by a SIPp UAC over UDP,
// connect mode with the daemon's PSS per flow, and a bad option (exit 2 naming it).
// Every run is bounded by --count or by a signal sent once the awaited event happened.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { daemonIn, sippIn } from './lib/fixtures.mjs';
import { sipwsBin } from './lib/daemon.mjs';
import { freePort } from './lib/ports.mjs';
import { trackPid, untrackPid } from './lib/procs.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const loadBin = path.join(path.dirname(process.env.SIPWS_BIN || sipwsBin), 'sipws-load');
const skip = fs.existsSync(loadBin)
  ? false
  : `sipws-load not built (${loadBin}): build the sipws-load target (SIPWS_BENCH=ON)`;
const kHardMs = 15000;

/**
 * Starts `sipws-load ARGS... --json -` (report JSON on stdout, text on stderr), killed by PID
 * after the test. `done` resolves {code, json, stderr}.
 */
function startLoad(scope, args) {
  const proc = spawn(loadBin, [...args, '--json', '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackPid(proc.pid);
  let out = '';
  let err = '';
  proc.stdout.on('data', (c) => (out += c.toString()));
  proc.stderr.on('data', (c) => (err += c.toString()));
  const hard = setTimeout(() => proc.kill('SIGKILL'), kHardMs);
  const done = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      clearTimeout(hard);
      untrackPid(proc.pid);
      let json = null;
      try {
        json = JSON.parse(out);
      } catch {}
      resolve({ code, signal, json, stdout: out, stderr: err });
    });
  });
  scope.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await done;
  });
  scope.log(`sipws-load ${args.join(' ')}`, () => `stdout:\n${out}\nstderr:\n${err}`);
  return { proc, done, stderr: () => err };
}

function assertNoErrors(json) {
  assert.ok(json, 'no JSON report on stdout');
  for (const [kind, n] of Object.entries(json.errors)) assert.equal(n, 0, `errors.${kind} = ${n}`);
}

test('register over WS, auth=off: every REGISTER gets its 200', { skip }, (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', trace: false });
    const r = await startLoad(s, ['register', '--target', `ws://127.0.0.1:${d.ports.ws}`,
      '--domain', 'localhost', '--connections', '4', '--count', '40', '--quiet']).done;
    assert.equal(r.code, 0, `exit ${r.code}`);
    assertNoErrors(r.json);
    assert.equal(r.json.mode, 'register');
    assert.equal(r.json.transport, 'ws');
    assert.equal(r.json.operations, 40);
    assert.equal(r.json.transactions, 40, 'no challenge with auth=off: one REGISTER per op');
    assert.ok(r.json.ops_per_s > 0);
    assert.ok(r.json.latency_ms.p50 > 0 && r.json.latency_ms.max >= r.json.latency_ms.p99);
  }));

test('register over WS with digest: 401, then the REGISTER with credentials gets 200', { skip },
  (t) =>
    withScope(t, async (s) => {
      const d = await daemonIn(s, { trace: false });
      await d.addUser('load1000@localhost', 'secret');
      // One connection, so the order is fixed (with several, a fast connection may take a second
      // operation before a slow one opens): the first registration starts with no nonce and is
      // challenged (REGISTER, 401, REGISTER, 200); the next two reuse the nonce with a growing
      // nonce-count, one REGISTER each.
      const r = await startLoad(s, ['register', '--target', `ws://127.0.0.1:${d.ports.ws}`,
        '--domain', 'localhost', '--password', 'secret', '--connections', '1', '--count', '3',
        '--quiet']).done;
      assert.equal(r.code, 0, `exit ${r.code}`);
      assertNoErrors(r.json);
      assert.equal(r.json.operations, 3);
      assert.equal(r.json.transactions, 4, 'REGISTER, 401, REGISTER, 200, then one REGISTER each');
    }));

test('call mode: WS caller -> sipws (auth=off) -> SIPp UAS on UDP, ACK and BYE along the route',
  { skip }, (t) =>
    withScope(t, async (s) => {
      const d = await daemonIn(s, { auth: 'off', trace: false });
      const uasPort = await freePort();
      const uas = await sippIn(s, 'uas (udp)', {
        scenario: 'uas_call.xml', port: uasPort, args: ['-m', '3'],
      });
      const r = await startLoad(s, ['call', '--target', `ws://127.0.0.1:${d.ports.ws}`,
        '--domain', 'localhost', '--to', `sip:service@127.0.0.1:${uasPort}`,
        '--connections', '1', '--count', '3', '--quiet']).done;
      assert.equal(r.code, 0, `exit ${r.code}`);
      assertNoErrors(r.json);
      assert.equal(r.json.operations, 3);
      assert.equal(r.json.transactions, 6, 'INVITE and BYE per call');
      assert.ok(r.json.bye_latency_ms, 'no bye_latency_ms in the call report');
      const u = await withTimeout(uas.done, 10000, 'SIPp UAS exit');
      assert.equal(u.code, 0, 'SIPp UAS did not see INVITE, ACK, BYE for every call');
    }));

test('answer mode: WS users answer a SIPp UAC calling over UDP through sipws', { skip }, (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', trace: false });
    const ans = startLoad(s, ['answer', '--target', `ws://127.0.0.1:${d.ports.ws}`,
      '--domain', 'localhost', '--user-prefix', 'ans', '--user-base', '1', '--connections', '2',
      '--duration', '12']);
    await waitFor(() => /answer: 2 registered/.test(ans.stderr()),
      { ms: 5000, what: 'sipws-load answer: 2 registered' });
    const uac = await sippIn(s, 'uac (udp)', {
      scenario: 'uac_call.xml', port: await freePort(), remote: `127.0.0.1:${d.ports.udp}`,
      keys: { target_uri: 'sip:ans2@localhost' },
    });
    const u = await withTimeout(uac.done, 10000, 'SIPp UAC exit');
    assert.equal(u.code, 0, 'SIPp UAC call to ans2 did not complete');
    ans.proc.kill('SIGINT');  // ends the run: the report follows
    const r = await withTimeout(ans.done, 5000, 'sipws-load answer exit');
    assert.equal(r.code, 0, `exit ${r.code}`);
    assertNoErrors(r.json);
    assert.equal(r.json.operations, 1, 'one call answered');
    assert.equal(r.json.registered, 2);
    assert.ok(r.json.requests_answered >= 2, 'INVITE and BYE answered');
  }));

test('connect mode: 20 registered WS flows, PSS per flow of the daemon', { skip }, (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', trace: false });
    const c = startLoad(s, ['connect', '--target', `ws://127.0.0.1:${d.ports.ws}`,
      '--domain', 'localhost', '--connections', '20', '--hold-for', '0.5', '--pid',
      String(d.pid)]);
    const r = await c.done;
    assert.match(r.stderr, /connect: 20 registered/);
    assert.equal(r.code, 0, `exit ${r.code}`);
    assertNoErrors(r.json);
    assert.equal(r.json.connected, 20);
    assert.equal(r.json.registered, 20);
    assert.equal(r.json.dropped, 0);
    assert.equal(r.json.pids.length, 1);
    assert.equal(r.json.pids[0].pid, d.pid);
    assert.equal(typeof r.json.pids[0].pss_kb_per_flow, 'number');
    assert.ok(r.json.pids[0].pss_kb > 0);
  }));

test('bad options exit 2 and name the option', { skip }, (t) =>
  withScope(t, async (s) => {
    const a = await startLoad(s, ['register', '--target', 'ws://127.0.0.1:1',
      '--connections', 'many']).done;
    assert.equal(a.code, 2);
    assert.match(a.stderr, /--connections/);
    const b = await startLoad(s, ['register', '--connections', '3']).done;
    assert.equal(b.code, 2);
    assert.match(b.stderr, /--target/);
    const c = await startLoad(s, ['register', '--target', 'http://127.0.0.1:1']).done;
    assert.equal(c.code, 2);
    assert.match(c.stderr, /--target/);
  }));
