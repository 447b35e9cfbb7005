// Restart under load (shutdown_grace, issue 18): SIGTERM while REGISTERs stream in and a call is
// ringing. Every request sipws received gets a final answer: the REGISTERs in flight their 200,
// new ones `503 Service Unavailable - Shutting Down` with Retry-After, and the ringing INVITE
// its 200 from the callee, forwarded after the signal; GET /ready is 503 meanwhile. sipws exits
// 0 once the call's transaction is answered, and the restarted daemon has every binding back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn } from './lib/fixtures.mjs';
import { buildRequest, buildResponse, endpointIn } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

/** A REGISTER of `user`@localhost binding `port` of 127.0.0.1. */
function register(user, port) {
  return buildRequest({
    method: 'REGISTER',
    ruri: 'sip:localhost',
    via: `SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-${user}`,
    from: `<sip:${user}@localhost>;tag=t-${user}`,
    to: `<sip:${user}@localhost>`,
    callId: `reg-${user}`,
    cseq: 1,
    contact: `<sip:${user}@127.0.0.1:${port}>;expires=3600`,
  });
}

/**
 * A call left ringing through daemon `d`: a callee registered over UDP answers the INVITE with
 * 180 only (`onInvite(msg)` is told of it), and a caller got that 180. Resolves {uas, caller}.
 */
async function ringingCall(s, d, n, onInvite = () => {}) {
  const uas = await endpointIn(s, `callee ${n}`);
  const caller = await endpointIn(s, `caller ${n}`);
  await uas.send(register('callee', uas.port), d.ports.udp);
  await uas.waitFor((m) => m.status === 200, { what: "the callee's 200 to REGISTER" });
  uas.onRequest = (m) => {
    if (m.method !== 'INVITE') return;
    onInvite(m);
    uas.send(buildResponse(m, 180, 'Ringing', { toTag: `callee${n}` }), d.ports.udp);
  };
  await caller.send(buildRequest({
    method: 'INVITE',
    ruri: 'sip:callee@localhost',
    via: `SIP/2.0/UDP 127.0.0.1:${caller.port};branch=z9hG4bK-call${n}`,
    from: `<sip:caller@localhost>;tag=caller${n}`,
    to: '<sip:callee@localhost>',
    callId: `call-${n}`,
    cseq: 1,
    contact: `<sip:caller@127.0.0.1:${caller.port}>`,
  }), d.ports.udp);
  await caller.waitFor((m) => m.status === 180, { what: '180 Ringing at the caller' });
  return { uas, caller };
}

test('SIGTERM under load: in-flight requests are answered, new ones get 503, the ringing call ' +
  'completes, exit 0, and a restart restores every binding', (t) =>
  withScope(t, async (s) => {
    const sets = ['threads=1', 'shutdown_grace=10'];
    const d = await daemonIn(s, { auth: 'off', extraSets: sets });
    let invite = null;
    const { uas, caller } = await ringingCall(s, d, 1, (m) => { invite = m; });
    const phones = await endpointIn(s, 'phones');

    // A closed-loop REGISTER load, 16 in flight; each answer sends the next, until the first
    // 503 (then the load stops, as a client told to retry later would).
    const answers = new Map();  // user -> final status
    let sent = 0;
    let refused = null;
    const send = () => phones.send(register(`p${sent++}`, phones.port), d.ports.udp);
    phones.listeners.add(() => {
      while (phones.received.length > 0) {
        const { msg } = phones.received.shift();
        if (msg.status === null || msg.status < 200) continue;
        answers.set(/^<sip:([^@]+)@/.exec(msg.get('to'))[1], msg.status);
        if (msg.status === 503 && !refused) refused = msg;
        if (!refused) send();
      }
    });
    for (let i = 0; i < 16; i++) send();
    await waitFor(() => answers.size >= 100, { what: '100 REGISTERs answered before the signal' });

    process.kill(d.pid, 'SIGTERM');
    await waitFor(() => refused !== null, { what: 'a 503 after SIGTERM' });
    assert.equal(refused.reason, 'Service Unavailable - Shutting Down');
    assert.equal(refused.get('retry-after'), '1');
    const ready = await fetch(`http://127.0.0.1:${d.ports.admin}/ready`);
    assert.equal(ready.status, 503);
    assert.equal(await ready.text(), 'not ready: shutting down\n');
    assert.equal(d.proc.exitCode, null, 'sipws exited while the call was still ringing');

    // The callee answers now; the 200 still reaches the caller, then sipws exits by itself.
    assert.ok(invite, 'the INVITE reached the callee');
    await uas.send(buildResponse(invite, 200, 'OK', {
      toTag: 'callee1',
      headers: [`Contact: <sip:callee@127.0.0.1:${uas.port}>`],
    }), d.ports.udp);
    await caller.waitFor((m) => m.status === 200, { what: "the callee's 200 at the caller" });
    const exit = await withTimeout(d.exited, 10000, 'sipws to exit after the last answer');
    assert.deepEqual(exit, { code: 0, signal: null });

    // Every REGISTER sent got its final answer: 200 before the signal, 200 or 503 after.
    await waitFor(() => answers.size === sent, { ms: 2000, what: `answers to all ${sent} REGISTERs` });
    const statuses = new Set(answers.values());
    assert.deepEqual([...statuses].sort(), [200, 503]);
    const registered = [...answers].filter(([, st]) => st === 200).length;
    t.diagnostic(`${sent} REGISTERs: ${registered} answered 200, ${sent - registered} 503`);

    // The restarted daemon has every binding that was answered 200 (and the callee's).
    const d2 = await daemonIn(s, { auth: 'off', dir: d.dir, ports: d.ports, extraSets: sets });
    await d2.waitStderr(new RegExp(`store: ${registered + 1} bindings restored`));
  }));

test('a second SIGTERM ends the drain at once, with a call still ringing', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', extraSets: ['threads=1', 'shutdown_grace=600'] });
    await ringingCall(s, d, 2);

    process.kill(d.pid, 'SIGTERM');
    await d.waitStderr(/shutting down: new requests get 503/);
    const ready = await fetch(`http://127.0.0.1:${d.ports.admin}/ready`);
    assert.equal(ready.status, 503, 'draining: the call keeps sipws up');
    process.kill(d.pid, 'SIGTERM');
    const exit = await withTimeout(d.exited, 5000, 'sipws to exit after the second SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null });
    assert.match(d.stderr(), /signal 15 again: stopping without waiting/);
    // The INVITE's server and client transactions, neither with a final response.
    assert.match(d.stderr(), /2 transactions of shard 0 still open, dropped \(second signal\)/);
  }));
