// RFC 4475 torture messages against the running daemon, over UDP and over WebSocket.
// sipws may try to forward the valid ones to the hosts they name, so this file only runs inside
// a network namespace with nothing but loopback (scripts/test.sh: `unshare -n`); it refuses to
// run outside one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { daemonIn } from '../integration/lib/fixtures.mjs';
import { parseSip } from '../integration/lib/jssip.mjs';
import { withScope } from '../integration/lib/scope.mjs';
import { withTimeout } from '../integration/lib/wait.mjs';

const dir = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', 'vectors', 'rfc4475');
const manifest = fs
  .readFileSync(path.join(dir, 'MANIFEST.tsv'), 'utf8')
  .split('\n')
  .slice(1)
  .filter((l) => l.trim())
  .map((l) => {
    const [name, file, section, expected] = l.split('\t');
    return { name, file: name === 'baddn' ? 'variants/baddn.terminated.dat' : file, section, expected };
  });

// What a proxy must answer (RFC 4475 and the manifest): exact statuses where the RFC names one.
const kExact = { badvers: [505], unkscm: [416], novelsc: [416, 404], bext01: [420], zeromf: [483],
  mismatch01: [400], mismatch02: [400, 501], multi01: [400], mcl01: [400], ncl: [400],
  clerr: [400], scalar02: [400], badinv01: [400], quotbal: [400], insuf: [400] };
// Responses (not requests): must be dropped, never answered.
const kResponses = new Set(['unreason', 'noreason', 'scalarlg', 'bigcode', 'bcast']);

const isolated = (() => {
  const ifs = Object.values(os.networkInterfaces()).flat();
  return ifs.every((i) => i.internal);
})();

function isUtf8(buf) {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(buf);
    return !buf.includes(0);
  } catch {
    return false;
  }
}

/** The first response in `msgs` whose Call-ID and CSeq match `bytes`' (by text search). */
function matchResponse(msgs, bytes) {
  const text = bytes.toString('latin1');
  const callId = /\r\n(?:Call-ID|i)[ \t]*:[ \t]*([^\r\n]+)/i.exec(text)?.[1]?.trim();
  return msgs.map((m) => parseSip(m)).filter((m) => m.status && (!callId || m.headers('Call-ID|i')[0] === callId));
}

/**
 * A key that two vectors share whenever the daemon could take the second for a retransmission
 * of the first (RFC 3261 s.17.2.3: top Via branch and sent-by, and method; ACK goes with its
 * INVITE): the method, the branch and the sent-by host (port left out), so it may over-match,
 * never under-match. Vectors without a branch are RFC 2543 transactions, told apart by Call-ID.
 */
function transactionKey(bytes) {
  const head = bytes.toString('latin1').split('\r\n\r\n')[0].replace(/\r\n[ \t]+/g, ' ');
  const via = /^(?:Via|v)[ \t]*:(.*)$/im.exec(head)?.[1]?.split(',')[0]?.replace(/\s*\/\s*/g, '/') ?? '';
  const branch = /;\s*branch\s*=\s*([^;,\s]+)/i.exec(via)?.[1];
  if (!branch) return null;
  const host = /SIP\/[^/]+\/\S+\s+([^;:\s]+)/i.exec(via)?.[1]?.toLowerCase() ?? '';
  let method = /^CSeq[ \t]*:[ \t]*\d+[ \t]+(\S+)/im.exec(head)?.[1] ?? head.split(' ')[0];
  if (method === 'ACK') method = 'INVITE';
  return `${method} ${branch} ${host}`;
}

/**
 * The manifest cut into rounds, in manifest order, such that no two vectors of a round share a
 * transactionKey: each round gets its own daemon. Several vectors reuse a branch and sent-by
 * (unkscm/novelsc, cparam01/cparam02...); sent to one daemon, the second would be absorbed as
 * a retransmission of the first (the UDP transaction lingers 64*T1) and answered for the first.
 */
function rounds(vectors) {
  const out = [];
  for (const v of vectors) {
    const key = transactionKey(fs.readFileSync(path.join(dir, v.file)));
    let r = out.find((x) => key === null || !x.keys.has(key));
    if (!r) out.push((r = { keys: new Set(), vectors: [] }));
    if (key !== null) r.keys.add(key);
    r.vectors.push(v);
  }
  return out;
}

function check(v, got) {
  const finals = got.filter((m) => m.status >= 200);
  if (kResponses.has(v.name)) {
    assert.equal(got.length, 0, `${v.name}: a response must be dropped, got ${got.map((m) => m.status)}`);
    return;
  }
  if (kExact[v.name]) {
    // insuf has no Call-ID/From/To: no response is possible, dropping is right too.
    if (v.name === 'insuf' && finals.length === 0) return;
    assert.ok(finals.length > 0, `${v.name}: no final response`);
    assert.ok(kExact[v.name].includes(finals[0].status),
      `${v.name}: expected ${kExact[v.name]}, got ${finals[0].status} ${finals[0].first}`);
    return;
  }
  if (v.expected === 'invalid') {
    // Reject (400) or drop; never anything that shows it was processed as good.
    for (const f of finals) assert.equal(f.status, 400, `${v.name}: ${f.first}`);
    return;
  }
  // Valid: answered, whatever the routing outcome (e.g. 403 for a foreign domain, 408 when the
  // target never answers), but never with "400 Bad Request" for a well-formed message.
  assert.ok(finals.length > 0, `${v.name}: a valid request got no final response (got ${got.map((m) => m.status)})`);
  for (const f of finals) assert.notEqual(f.status, 400, `${v.name}: valid message got ${f.first}`);
}

// How long a message that must be dropped is given to show it was not; how long a request is
// given for its final response (a forwarded one may end in 408 after Timer F = 64*T1 = 3.2 s).
const kDropWaitMs = 1000;
const kFinalWaitMs = 6000;

// One daemon per transport and round: the same message sent over UDP and then WS would be the
// same transaction (same branch and sent-by), and the second copy absorbed as a retransmission;
// rounds() keeps vectors that share a transaction apart in the same way.
// Over UDP the daemon answers a request at its top Via: sent-by differs from the source, so the
// response goes to received=127.0.0.1 at the sent-by port (5060 here; mpart01 has rport, which
// sends it back to the source port, our 5060 too): every request is answered to this socket.
for (const transport of ['udp', 'ws']) {
  test(`RFC 4475 torture messages over ${transport.toUpperCase()}: answered as the RFC says, daemon unharmed`,
    { skip: isolated ? false : 'needs an isolated network namespace (run via scripts/test.sh)' },
    (t) => withScope(t, async (s) => {
      const msgs = [];
      const arrived = new EventEmitter();
      const onMessage = (m) => {
        msgs.push(m);
        arrived.emit('message');
      };
      let udp;
      if (transport === 'udp') {
        udp = dgram.createSocket('udp4');
        await new Promise((r) => udp.bind(5060, '127.0.0.1', r));
        s.defer(() => udp.close());
        udp.on('message', (m) => onMessage(m.toString('latin1')));
      }
      let sent = 0;
      for (const round of rounds(manifest)) {
        const d = await daemonIn(s, { auth: 'off', extraSets: ['timer_t1=50'] });
        let send;
        let ws;
        if (transport === 'udp') {
          send = (bytes) => udp.send(bytes, d.ports.udp, '127.0.0.1');
        } else {
          ws = new WebSocket(`ws://127.0.0.1:${d.ports.ws}`, ['sip']);
          await withTimeout(new Promise((r, j) => { ws.once('open', r); ws.once('error', j); }), 5000, 'ws open');
          s.defer(() => ws.terminate());
          ws.on('message', (m) => onMessage(Buffer.from(m).toString('latin1')));
          send = (bytes) => ws.send(bytes, { binary: !isUtf8(bytes) });
        }
        for (const v of round.vectors) {
          const bytes = fs.readFileSync(path.join(dir, v.file));
          msgs.length = 0;
          send(bytes);
          ++sent;
          // Wait (woken by each arriving message) for a final response, or for as long as a
          // message that must be dropped is given.
          const answered = () => matchResponse(msgs, bytes).some((m) => m.status >= 200);
          const dropped = kResponses.has(v.name) || v.expected === 'invalid';
          const deadline = Date.now() + (dropped ? kDropWaitMs : kFinalWaitMs);
          while (!answered() && Date.now() < deadline) {
            const left = AbortSignal.timeout(deadline - Date.now());
            await once(arrived, 'message', { signal: left }).catch(() => {});
          }
          check(v, matchResponse(msgs, bytes));
          assert.equal(d.proc.exitCode, null, `sipws exited after ${v.name}`);
        }
        if (ws) assert.equal(ws.readyState, WebSocket.OPEN, 'a torture message closed the WebSocket');
      }
      assert.equal(sent, manifest.length);
    }));
}
