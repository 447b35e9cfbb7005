// Near the descriptor limit (issue 18, "bounded per client"): sipws runs with a low RLIMIT_NOFILE
// and gets more WebSocket and TCP connections than it has descriptors for. The connections past
// the limit are refused at once (a WebSocket upgrade gets 503 with Retry-After, a SIP TCP
// connection is closed), not left in the kernel's backlog until the client gives up; sipws says
// so once in its log. Once the burst closes, new clients are served.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { metric } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { buildRequest, parseMessage } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

const kNoFile = 160;
/** How long a refused client may wait for its refusal: far below any client's own timeout. */
const kSettleMs = 3000;

/** Open descriptors of process `pid`. */
function openFds(pid) {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * Opens a WebSocket to sipws; resolves with 'open' (the socket is kept in `held`), the HTTP
 * status of a refused upgrade, 'closed' (connection closed without an answer) or 'pending' when
 * nothing happened within kSettleMs.
 */
function tryWebSocket(port, held) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}`, ['sip']);
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ outcome: 'pending' });
    }, kSettleMs);
    const done = (r) => {
      clearTimeout(timer);
      resolve(r);
    };
    ws.once('open', () => {
      held.push(ws);
      done({ outcome: 'open' });
    });
    ws.once('unexpected-response', (req, res) => {
      done({ outcome: res.statusCode, retryAfter: res.headers['retry-after'] });
      req.destroy();
    });
    ws.once('error', () => done({ outcome: 'closed' }));
  });
}

/** Connects to a SIP TCP port; resolves 'closed' when sipws closes it, 'open' if it stays up. */
function tryTcp(port, ms) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      sock.destroy();
      resolve('open');
    }, ms);
    const closed = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve('closed');
    };
    sock.once('end', closed);
    sock.once('error', closed);
    sock.once('close', closed);
  });
}

test('past the descriptor limit, new connections are refused at once (WS 503, TCP closed), ' +
  'logged once; after the burst new clients are served', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      trace: false,
      extraSets: ['threads=1', 'ws_first_message_timeout=0', 'ws_max_connections_per_ip=0'],
      wrap: ['sh', '-c', `ulimit -n ${kNoFile} && exec "$@"`, 'sh'],
    });
    const held = [];
    s.defer(() => held.forEach((ws) => ws.terminate()));
    const spare = kNoFile - openFds(d.pid);
    t.diagnostic(`${openFds(d.pid)} descriptors open at start, ${spare} to spare`);
    assert.ok(spare > 20 && spare < kNoFile, `spare descriptors: ${spare}`);

    // Twice as many WebSocket clients as there are descriptors left, 20 at a time.
    const outcomes = [];
    for (let i = 0; i < 2 * spare; i += 20) {
      const batch = [];
      for (let j = 0; j < 20; j++) batch.push(tryWebSocket(d.ports.ws, held));
      outcomes.push(...await Promise.all(batch));
    }
    const count = (o) => outcomes.filter((r) => r.outcome === o).length;
    t.diagnostic(`WS: ${count('open')} open, ${count(503)} refused with 503, ` +
      `${count('closed')} closed, ${count('pending')} left hanging`);
    assert.equal(count('pending'), 0, 'no connection is left hanging');
    assert.ok(count('open') > spare / 2, `${count('open')} opened`);
    assert.ok(count(503) > 0, 'some upgrades are refused with 503');
    assert.equal(count(503) + count('open') + count('closed'), outcomes.length);
    const refusals = outcomes.filter((r) => r.outcome === 503);
    assert.deepEqual([...new Set(refusals.map((r) => r.retryAfter))], ['5'], 'Retry-After: 5');

    // A SIP TCP connection while the descriptors are gone: closed at once.
    assert.equal(await tryTcp(d.ports.tcp, kSettleMs), 'closed');
    assert.equal((d.stderr().match(/out of file descriptors/g) || []).length, 1,
      'the exhaustion is logged once');

    // The burst goes away: new clients are served again (the admin API too: /metrics was
    // refused like any other connection while the descriptors were gone).
    for (const ws of held.splice(0)) ws.terminate();
    await waitFor(() => openFds(d.pid) <= kNoFile - spare + 2,
      { what: 'the burst\'s descriptors to be closed' });
    assert.ok(await metric(d, 'ws_refused_no_descriptors') >= count(503));
    assert.ok(await metric(d, 'transport_refused_no_descriptors') >= 1);
    const ws = new WebSocket(`ws://127.0.0.1:${d.ports.ws}`, ['sip']);
    s.defer(() => ws.terminate());
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const answers = [];
    ws.on('message', (data) => answers.push(parseMessage(data.toString('latin1'))));
    ws.send(buildRequest({
      method: 'REGISTER',
      ruri: 'sip:localhost',
      via: 'SIP/2.0/WS after.invalid;branch=z9hG4bK-after-1',
      from: '<sip:after@localhost>;tag=a1',
      to: '<sip:after@localhost>',
      callId: 'reg-after',
      cseq: 1,
      contact: '<sip:after@after.invalid;transport=ws>;expires=600',
    }));
    await waitFor(() => answers.some((m) => m.status === 200), { what: 'a REGISTER after the burst' });
    assert.equal(await tryTcp(d.ports.tcp, 300), 'open', 'a TCP connection stays up again');
    assert.match(d.stderr(), /file descriptors available again/);
    assert.equal(d.proc.exitCode, null);
  }));
