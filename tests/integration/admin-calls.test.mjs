// Live calls, call records and the SIP trace of the admin API (issue 15): a JsSIP user over WS
// (alice) calls a raw UDP phone registered as bob. The live call appears in GET /api/v1/calls
// with its fields; GET /api/v1/trace shows every message of it on both hops; DELETE
// /api/v1/calls/{id} sends a BYE to both ends; each call attempt (ended by the administrator,
// refused with 486, hung up by the caller, cancelled by the administrator while ringing) gets one record in GET /api/v1/cdrs (JSON and CSV,
// with filters), and the records survive a restart. Bad input gets 400 naming the parameter.
import { test } from 'node:test';
import WebSocket from 'ws';
import assert from 'node:assert/strict';
import { adminApi, kAdminToken } from './lib/admin.mjs';
import { startDaemon } from './lib/daemon.mjs';
import { daemonIn, uaIn } from './lib/fixtures.mjs';
import { kNoMedia } from './lib/jssip.mjs';
import { SipClient, buildResponse, endpointIn, plainSdp } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent, waitFor } from './lib/wait.mjs';

const kToken = kAdminToken;

/** The events socket; resolves {ws, messages (parsed), closed (a promise)} once open. */
async function events(d, token) {
  const ws = new WebSocket(`ws://127.0.0.1:${d.ports.admin}/api/v1/events`, 'sipws-events');
  const messages = [];
  ws.on('message', (m) => messages.push(JSON.parse(m.toString())));
  const closed = new Promise((resolve) => ws.on('close', resolve));
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  ws.send(JSON.stringify({ token }));
  return { ws, messages, closed };
}

const api = adminApi;

/** bob: a raw UDP phone registered at `d`, answering INVITEs as `answer()` says. */
async function bobIn(s, d) {
  const ep = await endpointIn(s, 'bob (udp)');
  const bob = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp }, user: 'bob', password: 'secret' });
  assert.equal((await bob.register()).final.status, 200);
  const phone = { ep, answer: 200 };
  ep.onRequest = (m, rinfo) => {
    const reply = (text) => ep.send(text, rinfo.port, rinfo.address);
    if (m.method === 'INVITE') {
      const toTag = `bob${Math.random().toString(36).slice(2, 8)}`;
      if (phone.answer === 'ring') {  // rings until cancelled
        phone.ringing = { m, toTag, reply };
        reply(buildResponse(m, 180, 'Ringing', { toTag }));
        return;
      }
      if (phone.answer !== 200) {
        reply(buildResponse(m, phone.answer, 'Busy Here', { toTag }));
        return;
      }
      reply(buildResponse(m, 180, 'Ringing', { toTag }));
      reply(buildResponse(m, 200, 'OK', {
        toTag, headers: [`Contact: <sip:bob@127.0.0.1:${ep.port}>`], body: plainSdp('127.0.0.1', 40000),
      }));
    } else if (m.method === 'BYE') {
      reply(buildResponse(m, 200, 'OK'));
    } else if (m.method === 'CANCEL' && phone.ringing) {
      reply(buildResponse(m, 200, 'OK'));
      const { m: invite, toTag, reply: replyInvite } = phone.ringing;
      phone.ringing = null;
      replyInvite(buildResponse(invite, 487, 'Request Terminated', { toTag }));
    }
  };
  return phone;
}

/** alice calls bob; resolves with {session, callId} once confirmed (or failed). */
async function call(ua) {
  const session = ua.call('sip:bob@localhost', kNoMedia);
  await new Promise((resolve) => {
    session.once('confirmed', resolve);
    session.once('failed', resolve);
  });
  return { session, callId: session._request.call_id };
}

test('admin API: live calls, end call, call records, trace', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: [`admin_token=${kToken}`] });
    await d.addUser('alice@localhost', 'secret');
    await d.addUser('bob@localhost', 'secret');
    // The events socket: a wrong token is refused and closed; the right one gets every change.
    const bad = await events(d, 'wrong-token-wrong-token');
    await bad.closed;
    assert.match(bad.messages[0]?.error || '', /token/);
    const ev = await events(d, kToken);
    s.defer(() => ev.ws.close());
    await waitFor(() => ev.messages.length > 0, { what: 'the events socket to take the token' });
    assert.deepEqual(ev.messages[0], { changed: [] });
    const changed = (what) => ev.messages.some((m) => m.changed?.includes(what));
    const other = new WebSocket(`ws://127.0.0.1:${d.ports.admin}/api/v1/other`, 'sipws-events');
    const refused = await new Promise((resolve) => other.once('unexpected-response',
      (_, res) => resolve(res.statusCode)));
    assert.equal(refused, 404, 'the events socket is the only WebSocket there');

    const bob = await bobIn(s, d);
    const ua = uaIn(s, { proto: 'ws', port: d.ports.ws, user: 'alice', password: 'secret' });
    const registered = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
    ua.start();
    await registered;

    // (1) A call answered, seen live, then ended by the administrator.
    const c1 = await call(ua);
    await waitFor(() => changed('calls'), { what: 'a calls event' });
    assert.ok(c1.session.isEstablished(), 'call 1 is up');
    const live = await api(d, 'GET', '/api/v1/calls');
    assert.equal(live.status, 200, live.text);
    assert.equal(live.json.length, 1, live.text);
    const lc = live.json[0];
    assert.equal(lc.call_id, c1.callId);
    assert.equal(lc.state, 'answered');
    assert.equal(lc.from, 'sip:alice@localhost');
    assert.equal(lc.to, 'sip:bob@localhost');
    assert.equal(lc.request_uri, 'sip:bob@localhost');
    assert.equal(lc.user, 'alice@localhost', 'the identity that authenticated the INVITE');
    assert.match(lc.source, /^ws:127\.0\.0\.1:\d+$/);
    assert.ok(Date.parse(lc.start) <= Date.parse(lc.answer), `${lc.start} ${lc.answer}`);
    assert.equal(typeof lc.media_anchored, 'boolean');
    if (lc.media_anchored) assert.ok(lc.legs.caller && lc.legs.callee);

    // The trace: the INVITE on both hops (in over WS, out over UDP to bob) and its answers,
    // in order, with the credentials masked.
    const tr = await api(d, 'GET', `/api/v1/trace?call_id=${encodeURIComponent(c1.callId)}`);
    assert.equal(tr.status, 200, tr.text);
    const lines = tr.json.map((m) => `${m.direction} ${m.protocol} ${m.first_line}`);
    const idx = (re, from = 0) => {
      const i = lines.slice(from).findIndex((l) => re.test(l));
      return i < 0 ? -1 : i + from;
    };
    const inviteIn = idx(/^in ws INVITE sip:bob@localhost /);
    const inviteOut = idx(/^out udp INVITE sip:bob@127\.0\.0\.1:\d+ /);
    const okIn = idx(/^in udp SIP\/2\.0 200 /);
    const okOut = idx(/^out ws SIP\/2\.0 200 /);
    assert.ok(inviteIn >= 0 && inviteOut > inviteIn && okIn > inviteOut && okOut > okIn,
      lines.join('\n'));
    assert.ok(idx(/^in udp SIP\/2\.0 180 /) > inviteOut, lines.join('\n'));
    assert.ok(idx(/^in ws ACK /, okOut) > 0 && idx(/^out udp ACK /, okOut) > 0, lines.join('\n'));
    const withCreds = tr.json.find((m) => /Proxy-Authorization:/i.test(m.text));
    assert.ok(withCreds, 'the authenticated INVITE is traced');
    assert.match(withCreds.text, /response="\*\*\*"/);
    assert.doesNotMatch(withCreds.text, /response="[0-9a-f]{32}"/);
    assert.equal(Date.parse(tr.json[0].time) > 0, true);
    assert.match(tr.json.find((m) => m.direction === 'out' && m.protocol === 'udp').peer,
      new RegExp(`^127\\.0\\.0\\.1:${bob.ep.port}$`));

    const byeAt = bob.ep.received.length;
    const ended = waitEvent(c1.session, 'ended', { ms: 10000 });
    const del = await api(d, 'DELETE', `/api/v1/calls/${encodeURIComponent(lc.id)}`);
    assert.equal(del.status, 204, del.text);
    const bye = await bob.ep.waitFor((m) => m.method === 'BYE', { from: byeAt, what: 'the BYE to bob' });
    assert.match(bye.msg.get('reason') || '', /administrator/);
    assert.equal(bye.msg.get('call-id'), c1.callId);
    const e = await ended;
    assert.equal(e.originator, 'remote', 'alice got a BYE too');
    await waitFor(async () => (await api(d, 'GET', '/api/v1/calls')).json.length === 0,
      { what: 'no live call' });
    assert.equal((await api(d, 'DELETE', `/api/v1/calls/${encodeURIComponent(lc.id)}`)).status, 404);

    // (2) Refused with 486.
    bob.answer = 486;
    const c2 = await call(ua);
    assert.ok(!c2.session.isEstablished());
    // (3) Answered, then alice hangs up.
    bob.answer = 200;
    const c3 = await call(ua);
    const ended3 = waitEvent(c3.session, 'ended', { ms: 10000 });
    c3.session.terminate();
    await ended3;

    await waitFor(() => changed('cdrs'), { what: 'a cdrs event' });
    assert.ok(changed('registrations'), 'bob and alice registered after the socket opened');
    // (4) Ringing, ended by the administrator before the answer: cancelled, the caller gets 487.
    bob.answer = 'ring';
    const session4 = ua.call('sip:bob@localhost', kNoMedia);
    const failed4 = waitEvent(session4, 'failed', { ms: 10000 });
    let ringing;
    await waitFor(async () => {
      ringing = (await api(d, 'GET', '/api/v1/calls')).json.find((c) => c.state === 'ringing');
      return ringing;
    }, { what: 'a ringing call' });
    assert.equal(ringing.answer, null);
    const cancelAt = bob.ep.received.length;
    assert.equal((await api(d, 'DELETE', `/api/v1/calls/${ringing.id}`)).status, 204);
    await bob.ep.waitFor((m) => m.method === 'CANCEL', { from: cancelAt, what: 'the CANCEL to bob' });
    const f4 = await failed4;
    assert.equal(f4.message?.status_code, 487, 'alice got 487');
    const c4 = { callId: session4._request.call_id };

    // One record per attempt, newest first.
    let recs;
    await waitFor(async () => {
      recs = await api(d, 'GET', '/api/v1/cdrs');
      return recs.json?.length === 4;
    }, { what: 'four call records' });
    assert.equal(recs.headers.get('x-total-count'), '4');
    assert.deepEqual(recs.json.map((r) => r.call_id), [c4.callId, c3.callId, c2.callId, c1.callId]);
    const [r4, r3, r2, r1] = recs.json;
    assert.equal(r4.status, 487);
    assert.equal(r4.hangup, 'admin');
    assert.equal(r4.answer, null);
    assert.equal(r1.status, 200);
    assert.equal(r1.hangup, 'admin');
    assert.ok(r1.answer && r1.end && r1.duration >= 0);
    assert.equal(r1.from, 'sip:alice@localhost');
    assert.equal(r1.user, 'alice@localhost');
    assert.equal(r2.status, 486);
    assert.equal(r2.reason, 'Busy Here');
    assert.equal(r2.hangup, '');
    assert.equal(r2.answer, null);
    assert.equal(r2.duration, 0);
    assert.equal(r3.status, 200);
    assert.equal(r3.hangup, 'caller');
    for (const r of recs.json) {
      assert.ok(Date.parse(r.start) <= Date.parse(r.end), JSON.stringify(r));
      assert.equal(r.to, 'sip:bob@localhost');
    }

    // Filters, paging and CSV.
    const busy = await api(d, 'GET', '/api/v1/cdrs?status=486');
    assert.deepEqual(busy.json.map((r) => r.call_id), [c2.callId]);
    const byId = await api(d, 'GET', `/api/v1/cdrs?call_id=${encodeURIComponent(c1.callId)}`);
    assert.deepEqual(byId.json.map((r) => r.hangup), ['admin']);
    const page = await api(d, 'GET', '/api/v1/cdrs?limit=1&offset=2');
    assert.deepEqual(page.json.map((r) => r.call_id), [c2.callId]);
    assert.equal(page.headers.get('x-total-count'), '4');
    const future = await api(d, 'GET', '/api/v1/cdrs?since=2100-01-01');
    assert.deepEqual(future.json, []);
    const past = await api(d, 'GET', '/api/v1/cdrs?until=2000-01-01T00:00:00Z');
    assert.deepEqual(past.json, []);
    // A CSV export may ask for more than a JSON page holds, in either order of the parameters.
    for (const q of ['limit=5000&format=csv', 'format=csv&limit=5000']) {
      assert.equal((await api(d, 'GET', `/api/v1/cdrs?${q}`)).status, 200, q);
    }
    const csv = await api(d, 'GET', '/api/v1/cdrs?format=csv&from=alice');
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type'), /^text\/csv/);
    const rows = csv.text.trim().split('\r\n');
    assert.match(rows[0], /^id,call_id,from,to,/);
    assert.equal(rows.length, 5, csv.text);
    assert.ok(rows[1].includes(c4.callId) && rows[4].includes(c1.callId), csv.text);

    // Bad input: 400 naming the parameter; no or a wrong token: 401.
    for (const [q, field] of [['/api/v1/cdrs?status=abc', 'status'],
      ['/api/v1/cdrs?status=99', 'status'], ['/api/v1/cdrs?since=yesterday', 'since'],
      ['/api/v1/cdrs?until=2026-13-01', 'until'], ['/api/v1/cdrs?format=xml', 'format'],
      ['/api/v1/cdrs?limit=0', 'limit'], ['/api/v1/cdrs?limit=1001', 'limit'], ['/api/v1/cdrs?x=1', 'x'], ['/api/v1/calls?x=1', 'x'],
      ['/api/v1/trace', 'call_id'], ['/api/v1/trace?call=1', 'call']]) {
      const r = await api(d, 'GET', q);
      assert.equal(r.status, 400, `${q}: ${r.text}`);
      assert.equal(r.json.field, field, q);
    }
    assert.equal((await api(d, 'DELETE', '/api/v1/calls/9-99')).status, 404);
    assert.equal((await api(d, 'POST', '/api/v1/calls')).status, 405);
    for (const p of ['/api/v1/calls', '/api/v1/cdrs', '/api/v1/trace?call_id=x']) {
      assert.equal((await api(d, 'GET', p, { token: null })).status, 401, p);
      assert.equal((await api(d, 'GET', p, { token: 'wrong-token-wrong-token' })).status, 401, p);
    }
    assert.deepEqual((await api(d, 'GET', '/api/v1/trace?call_id=no-such-call')).json, []);

    // The records survive a restart (same store).
    await d.stop();
    const d2 = await startDaemon({ dir: d.dir, ports: d.ports, extraSets: [`admin_token=${kToken}`] });
    s.defer(() => d2.stop());
    s.log(`sipws (restarted) stderr (pid ${d2.pid})`, d2.stderr);
    const after = await api(d2, 'GET', '/api/v1/cdrs');
    assert.deepEqual(after.json, recs.json);
  }));

test('SIGTERM: an answered call gets a BYE at both ends and is recorded as shutdown', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: [`admin_token=${kToken}`] });
    await d.addUser('alice@localhost', 'secret');
    await d.addUser('bob@localhost', 'secret');
    const bob = await bobIn(s, d);
    const ua = uaIn(s, { proto: 'ws', port: d.ports.ws, user: 'alice', password: 'secret' });
    const registered = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
    ua.start();
    await registered;
    const c = await call(ua);
    assert.ok(c.session.isEstablished());
    const ended = waitEvent(c.session, 'ended', { ms: 10000 });
    const byeAt = bob.ep.received.length;

    const exit = await d.stop();
    assert.equal(exit.code, 0, 'a clean shutdown');
    const bye = await bob.ep.waitFor((m) => m.method === 'BYE', { from: byeAt, what: 'the BYE to bob' });
    assert.match(bye.msg.get('reason') || '', /shutting down/);
    assert.equal((await ended).originator, 'remote', 'alice got a BYE too');

    const d2 = await startDaemon({ dir: d.dir, ports: d.ports, extraSets: [`admin_token=${kToken}`] });
    s.defer(() => d2.stop());
    s.log(`sipws (restarted) stderr (pid ${d2.pid})`, d2.stderr);
    const recs = (await api(d2, 'GET', '/api/v1/cdrs')).json;
    assert.equal(recs.length, 1, JSON.stringify(recs));
    assert.equal(recs[0].call_id, c.callId);
    assert.equal(recs[0].status, 200);
    assert.equal(recs[0].hangup, 'shutdown');
  }));
