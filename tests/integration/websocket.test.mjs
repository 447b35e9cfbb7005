// (e) The WebSocket transport with a raw `ws` client: the `sip` subprotocol is required; a
// malformed SIP message gets a 400 (or is dropped) and the connection keeps working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import WebSocket from 'ws';
import { daemonIn } from './lib/fixtures.mjs';
import { parseSip } from './lib/jssip.mjs';
import { withScope } from './lib/scope.mjs';
import { withTimeout } from './lib/wait.mjs';

/** Opens a WebSocket; resolves {ws} on open, or {status, error} if the handshake fails. */
function connect(url, protocols) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { rejectUnauthorized: false, handshakeTimeout: 5000 });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode });
      req.destroy();
    });
    ws.once('error', (error) => resolve({ error, protocol: ws.protocol }));
  });
}

function optionsRequest() {
  const id = crypto.randomBytes(8).toString('hex');
  return {
    callId: id,
    text: [
      'OPTIONS sip:localhost SIP/2.0',
      `Via: SIP/2.0/WS ${id}.invalid;branch=z9hG4bK${id}`,
      'Max-Forwards: 70',
      'To: <sip:localhost>',
      `From: <sip:probe@example.net>;tag=${id}`,
      `Call-ID: ${id}`,
      'CSeq: 1 OPTIONS',
      'Accept: application/sdp',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  };
}

for (const proto of ['ws', 'wss']) {
  test(`(e) ${proto.toUpperCase()} handshake without the 'sip' subprotocol is refused`, (t) =>
    withScope(t, async (s) => {
      const d = await daemonIn(s);
      const r = await connect(`${proto}://127.0.0.1:${d.ports[proto]}`, []);
      if (r.ws) {
        r.ws.terminate();
        assert.fail('the WebSocket upgrade without Sec-WebSocket-Protocol: sip was accepted');
      }
      if (r.status !== undefined) {
        assert.ok(r.status >= 400, `HTTP status ${r.status}`);
      } else {
        assert.ok(r.error, 'handshake neither opened nor failed');
      }
    }));
}

test('(e) a malformed message gets 400 or nothing; OPTIONS on the same connection gets 200', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    const r = await connect(`ws://127.0.0.1:${d.ports.ws}`, ['sip']);
    assert.ok(r.ws, `handshake with 'sip' failed: ${r.status ?? r.error?.message}`);
    const ws = r.ws;
    s.defer(() => ws.terminate());
    assert.equal(ws.protocol, 'sip', 'server did not select the sip subprotocol');

    const received = [];
    let closed = null;
    ws.on('message', (data) => received.push(data.toString()));
    ws.on('close', (code) => {
      closed = code;
    });
    s.log('messages received on the raw WebSocket', () => received.join('\n----\n'));

    // Garbage first, then a valid OPTIONS: no waiting in between. The OPTIONS response proves
    // that the garbage neither closed the connection nor wedged the parser.
    ws.send('INVITE sip:x SIP/2.0\r\nVia: SIP/2.0/WS bad\r\n\r\n');
    const opt = optionsRequest();
    ws.send(opt.text);

    const answer = await withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          const hit = received.map(parseSip).find((m) => m.headers('Call-ID|i')[0] === opt.callId);
          if (hit) resolve(hit);
          else if (closed !== null) reject(new Error(`connection closed (code ${closed})`));
        };
        ws.on('message', check);
        ws.on('close', check);
        check();
      }),
      5000,
      'a response to OPTIONS sent after the malformed message',
    );
    assert.equal(answer.status, 200, `OPTIONS answered with: ${answer.first}`);
    assert.match(answer.cseq, /^1 OPTIONS$/);

    // Whatever else came back is the 400 for the garbage (at most one message).
    const others = received.filter((m) => parseSip(m).headers('Call-ID|i')[0] !== opt.callId);
    assert.ok(others.length <= 1, `unexpected extra messages: ${others.length}`);
    for (const m of others) assert.match(m, /^SIP\/2\.0 400 /);
    assert.equal(closed, null, 'the server closed the connection');
  }));
