// RFC 4475 torture messages against the running daemon, over UDP and over WebSocket.
// sipws may try to forward the valid ones to the hosts they name, so this file only runs inside
// a network namespace with nothing but loopback (scripts/test.sh: `unshare -n`); it refuses to
// run outside one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
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
  // Valid: whatever the routing outcome, never "400 Bad Request" for a well-formed message.
  for (const f of finals) assert.notEqual(f.status, 400, `${v.name}: valid message got ${f.first}`);
}

const kWaitMs = 1000;

// One daemon per transport: the same message sent over UDP and then WS would be the same
// transaction (same branch and sent-by), and the second copy absorbed as a retransmission.
for (const transport of ['udp', 'ws']) {
  test(`RFC 4475 torture messages over ${transport.toUpperCase()}: answered as the RFC says, daemon unharmed`,
    { skip: isolated ? false : 'needs an isolated network namespace (run via scripts/test.sh)' },
    (t) => withScope(t, async (s) => {
      const d = await daemonIn(s, { auth: 'off', extraSets: ['timer_t1=50'] });
      const msgs = [];
      let send;
      let ws;
      if (transport === 'udp') {
        // Responses go to the Via sent-by port, 5060 for most vectors: listen there.
        const udp = dgram.createSocket('udp4');
        await new Promise((r) => udp.bind(5060, '127.0.0.1', r));
        s.defer(() => udp.close());
        udp.on('message', (m) => msgs.push(m.toString('latin1')));
        send = (bytes) => udp.send(bytes, d.ports.udp, '127.0.0.1');
      } else {
        ws = new WebSocket(`ws://127.0.0.1:${d.ports.ws}`, ['sip']);
        await withTimeout(new Promise((r, j) => { ws.once('open', r); ws.once('error', j); }), 5000, 'ws open');
        s.defer(() => ws.terminate());
        ws.on('message', (m) => msgs.push(Buffer.from(m).toString('latin1')));
        send = (bytes) => ws.send(bytes, { binary: !isUtf8(bytes) });
      }
      for (const v of manifest) {
        const bytes = fs.readFileSync(path.join(dir, v.file));
        msgs.length = 0;
        send(bytes);
        // Wait for a final response, or kWaitMs for messages that must be dropped.
        const deadline = Date.now() + kWaitMs;
        while (Date.now() < deadline && !matchResponse(msgs, bytes).some((m) => m.status >= 200)) {
          await new Promise((r) => setTimeout(r, 20));
        }
        const got = matchResponse(msgs, bytes);
        // Over UDP a valid message's response goes to its Via sent-by, which may not be us.
        if (transport === 'udp' && v.expected !== 'invalid' && got.length === 0) continue;
        check(v, got);
        assert.equal(d.proc.exitCode, null, `sipws exited after ${v.name}`);
      }
      if (ws) assert.equal(ws.readyState, WebSocket.OPEN, 'a torture message closed the WebSocket');
    }));
}
