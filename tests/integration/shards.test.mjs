// threads=2: two shards, each with its own sockets on the same ports (SO_REUSEPORT). Many UDP
// sources and WebSocket connections are spread over both by the kernel, so calls cross shards:
// responses are handed to the shard of their client transaction (named in our Via branch),
// messages for another shard's flow to that shard, and in-dialog requests to the shard that
// anchored the call (named in our Record-Route entry). An anchored call whose BYE reached
// another shard would keep its media session: every session must be gone after the BYEs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn } from './lib/fixtures.mjs';
import { endpointIn, SipClient, buildRequest, buildResponse, plainSdp, uriOf } from './lib/rawsip.mjs';
import { jssipUserIn } from './lib/jssip-user.mjs';
import { makeUA, stopUA, kNoMedia } from './lib/jssip.mjs';
import { freePorts } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent } from './lib/wait.mjs';

const kPairs = 8;

async function metrics(d) {
  return (await fetch(`http://127.0.0.1:${d.ports.admin}/metrics`)).text();
}

function metric(text, name) {
  const m = new RegExp(`^sipws_${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** A UDP callee registered as `user`: answers INVITE 200 (plain SDP), BYE 200; can hang up. */
async function udpCallee(s, d, user) {
  const ep = await endpointIn(s, `callee ${user}`);
  const client = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp }, user });
  const invites = [];
  ep.onRequest = (msg, rinfo) => {
    if (msg.method === 'INVITE') {
      invites.push(msg);
      const answer = buildResponse(msg, 200, 'OK', {
        toTag: `t${user}`,
        headers: [`Contact: <sip:${user}@127.0.0.1:${ep.port}>`],
        body: plainSdp('127.0.0.1', 41000),
      });
      ep.send(answer, rinfo.port, rinfo.address);
    } else if (msg.method === 'BYE') {
      ep.send(buildResponse(msg, 200, 'OK'), rinfo.port, rinfo.address);
    }
  };
  const reg = await client.register();
  assert.equal(reg.final.status, 200, `REGISTER of ${user}`);
  /** The callee hangs up the call of INVITE `inv` (route set: its Record-Routes, in order). */
  const hangUp = async (inv) => {
    const branch = `z9hG4bKcallee${Math.random().toString(16).slice(2)}`;
    const text = buildRequest({
      method: 'BYE', ruri: uriOf(inv.get('contact')),
      via: `SIP/2.0/UDP 127.0.0.1:${ep.port};branch=${branch};rport`,
      from: `${inv.get('to')};tag=t${user}`, to: inv.get('from'), callId: inv.get('call-id'),
      cseq: 1, headers: inv.all('record-route').map((r) => `Route: ${r}`),
    });
    const from = ep.received.length;
    await ep.send(text, d.ports.udp);
    const e = await ep.waitFor((m) => m.status >= 200 && (m.get('via') || '').includes(branch),
      { from, what: `the 200 to ${user}'s BYE` });
    return e.msg.status;
  };
  return { ep, invites, hangUp };
}

test('threads=2: anchored UDP calls between many sources end with every media session gone, whichever shard their BYE reaches', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      trace: false,
      extraSets: ['threads=2', 'media_anchor=always', 'media_address=127.0.0.1',
        'flood_max_requests=0'],
    });
    await d.waitStderr(/sipws ready: .* threads=2/);
    const callees = [];
    for (let i = 0; i < kPairs; i++) callees.push(await udpCallee(s, d, `callee${i}`));
    const results = await Promise.all(callees.map(async (callee, i) => {
      const ep = await endpointIn(s, `caller ${i}`);
      ep.onRequest = (msg, rinfo) => {
        if (msg.method === 'BYE') ep.send(buildResponse(msg, 200, 'OK'), rinfo.port, rinfo.address);
      };
      const caller = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp }, user: `caller${i}` });
      const inv = await caller.request('INVITE', `sip:callee${i}@localhost`, {
        body: plainSdp('127.0.0.1', 42000 + 2 * i), contentType: 'application/sdp',
      });
      assert.equal(inv.final.status, 200, `call ${i}`);
      assert.equal(callee.invites.length, 1, `callee ${i} got its INVITE once`);
      const rr = callee.invites[0].all('record-route');
      assert.ok(rr.length > 0 && rr.every((r) => /;sw-sh=[01][;>]/.test(r)),
        `Record-Route names the shard: ${rr}`);
      // Half of the calls are ended by the caller, half by the callee (another UDP source).
      return i % 2 === 0
        ? (await caller.inDialog(inv.dialog, 'BYE')).status
        : callee.hangUp(callee.invites[0]);
    }));
    assert.deepEqual(results, Array(kPairs).fill(200));
    const m = await metrics(d);
    assert.equal(metric(m, 'media_sessions_created'), kPairs, m);
    assert.equal(metric(m, 'media_sessions_active'), 0, 'a BYE missed the shard of its call');
    // 2 x kPairs UDP sources: the kernel put some on each shard (all on one: p = 2^-15).
    assert.ok(metric(m, 'shard_messages_handed_over') > 0, m);
  }));

test('threads=2: JsSIP users on many WebSocket connections register and call each other', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { trace: false, extraSets: ['threads=2', 'media_anchor=never'] });
    const users = [];
    for (let i = 0; i < kPairs; i++) {
      users.push(await jssipUserIn(s, d, `ws${i}`, (session) => session.answer(kNoMedia)));
    }
    // Every user calls the next one: each call crosses between two connections, which the
    // kernel spread over both shards.
    await Promise.all(users.map(async (_u, i) => {
      await d.addUser(`caller${i}@localhost`, 'secret');
      const ua = makeUA({ proto: 'ws', port: d.ports.ws, user: `caller${i}`, password: 'secret' });
      s.defer(() => stopUA(ua));
      const registered = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
      ua.start();
      await registered;
      const session = ua.call(`sip:ws${(i + 1) % kPairs}@localhost`, kNoMedia);
      await waitEvent(session, 'confirmed', { failOn: ['failed', 'ended'] });
      const ended = waitEvent(session, 'ended', { failOn: ['failed'] });
      session.terminate();
      await ended;
    }));
    for (const u of users) assert.equal(u.invites.length, 1);
    const m = await metrics(d);
    assert.ok(metric(m, 'shard_messages_handed_over') + metric(m, 'shard_sends_handed_over') > 0, m);
  }));

test('threads: a value over 64, or too few media ports for the shards, stops start-up naming the key', (t) =>
  withScope(t, async (s) => {
    for (const [sets, key] of [
      [['threads=65'], 'threads'],
      [['threads=4', 'media_ports=30000-30009'], 'media_ports'],
    ]) {
      const err = await daemonIn(s, { extraSets: sets }).then(() => null, (e) => e);
      assert.ok(err, `started with ${sets}`);
      assert.match(String(err.message), /exited \(code 2/);
      assert.match(String(err.message), new RegExp(`config key '${key}'`));
    }
  }));

test('threads=2: a second sipws on the same ports does not start (SO_REUSEPORT does not let it share them)', (t) =>
  withScope(t, async (s) => {
    const first = await daemonIn(s, { extraSets: ['threads=2'] });
    // The same ports, one protocol at a time: each must be refused, though every socket of the
    // first daemon has SO_REUSEPORT (a second daemon of the same user could otherwise join).
    for (const only of ['udp', 'ws']) {
      const [a, b, c, e] = await freePorts(4);
      const ports = { udp: a, tcp: b, ws: c, wss: e, admin: (await freePorts(1))[0] };
      ports[only] = first.ports[only];
      const err = await daemonIn(s, { ports, extraSets: ['threads=2'] }).then(() => null, (x) => x);
      assert.ok(err, `a second sipws started on the ${only} port of the first`);
      assert.match(String(err.message), /exited \(code 2/);
      assert.match(String(err.message), /config key 'listen': .*[Aa]ddress already in use/);
    }
    assert.equal(first.proc.exitCode, null, 'the first daemon still runs');
  }));
