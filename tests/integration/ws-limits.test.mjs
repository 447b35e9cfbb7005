// RFC 7118 hardening against the real daemon: Origin policy, connection limits (429/503),
// slowloris (ws_handshake_timeout), ws_first_message_timeout and ws_max_message_rate (1008),
// max_message_size (1009 on WS, 513 on TCP), invalid UTF-8 (1007), fragmented messages,
// text/binary choice, WS ping and CRLF keep-alive, and a WS flow that dies: its binding is
// unreachable at once (430/480 to a UDP INVITE). Raw `ws` clients and raw net/dgram sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import net from 'node:net';
import WebSocket from 'ws';
import { daemonIn } from './lib/fixtures.mjs';
import { parseSip } from './lib/jssip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const kWait = 5000;

/** Opens a WebSocket; resolves {ws} on open, {status, headers} on an HTTP refusal, {error}. */
function connect(url, { origin, protocols = ['sip'], ...opts } = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, {
      rejectUnauthorized: false,
      handshakeTimeout: kWait,
      ...(origin ? { origin } : {}),
      ...opts,
    });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode, headers: res.headers });
      req.destroy();
    });
    ws.once('error', (error) => resolve({ error }));
  });
}

/** A connected `ws` client, terminated after the test; records messages and the close code. */
async function openIn(s, url, opts) {
  const r = await connect(url, opts);
  assert.ok(r.ws, `WebSocket did not open: ${r.status ?? r.error?.message}`);
  const ws = r.ws;
  s.defer(() => ws.terminate());
  ws.received = [];
  ws.closed = withTimeout(
    new Promise((resolve) => ws.once('close', (code) => resolve(code))),
    60000,
    'WebSocket close',
  ).catch(() => null);
  ws.on('message', (data, isBinary) => ws.received.push({ text: data.toString('latin1'), isBinary }));
  return ws;
}

function options(extraHeaders = []) {
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
      ...extraHeaders,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'),
  };
}

/** Sends an OPTIONS on `ws` and resolves with its parsed response (bounded). */
async function ping(ws, extraHeaders) {
  const o = options(extraHeaders);
  const from = ws.received.length;
  ws.send(o.text);
  const hit = await waitFor(
    () => ws.received.slice(from).find((m) => parseSip(m.text).headers('Call-ID|i')[0] === o.callId),
    { ms: kWait, what: 'the OPTIONS response' },
  );
  return { ...parseSip(hit.text), isBinary: hit.isBinary };
}

/** One masked client frame (RFC 6455 s.5.2). */
function frame(opcode, payload, fin = true) {
  const data = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = data.length;
  const head = len < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | len])
    : Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, len >> 8, len & 0xff]);
  const key = crypto.randomBytes(4);
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = data[i] ^ key[i % 4];
  return Buffer.concat([head, key, body]);
}

/** Server frames (unmasked) parsed from `buf` after the HTTP head: [{opcode, payload}]. */
function serverFrames(buf) {
  const out = [];
  let p = buf.indexOf('\r\n\r\n');
  if (p < 0) return out;
  p += 4;
  while (p + 2 <= buf.length) {
    let len = buf[p + 1] & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (p + 4 > buf.length) break;
      len = buf.readUInt16BE(p + 2);
      hdr = 4;
    } else if (len === 127) {
      if (p + 10 > buf.length) break;
      len = Number(buf.readBigUInt64BE(p + 2));
      hdr = 10;
    }
    if (p + hdr + len > buf.length) break;
    out.push({ opcode: buf[p] & 0x0f, payload: buf.subarray(p + hdr, p + hdr + len) });
    p += hdr + len;
  }
  return out;
}

/** A raw TCP connection collecting every byte; `gone` resolves on end/close. */
function rawSocket(s, port) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1');
    sock.data = Buffer.alloc(0);
    sock.on('data', (d) => {
      sock.data = Buffer.concat([sock.data, d]);
    });
    sock.gone = new Promise((r) => sock.once('close', () => r(true)));
    sock.on('error', () => {});
    sock.once('connect', () => resolve(sock));
    sock.once('error', reject);
    s.defer(() => sock.destroy());
  });
}

/** A raw WebSocket (net socket, frames by hand) upgraded with `sip`. */
async function rawWs(s, port) {
  const sock = await rawSocket(s, port);
  sock.write(
    'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n` +
      'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: sip\r\n\r\n',
  );
  await waitFor(() => sock.data.includes('\r\n\r\n'), { ms: kWait, what: 'the 101 response' });
  assert.match(sock.data.toString('latin1'), /^HTTP\/1\.1 101 /);
  return sock;
}

function closeCodeOf(frames) {
  const c = frames.find((f) => f.opcode === 8);
  return c && c.payload.length >= 2 ? c.payload.readUInt16BE(0) : null;
}

const wsUrl = (d) => `ws://127.0.0.1:${d.ports.ws}`;

test('origin policy: wildcard and exact origins pass, others and no Origin get 403', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      extraSets: [
        'ws_allowed_origins=https://*.example.com,https://phone.test:8443',
        'ws_allow_no_origin=false',
      ],
    });
    const sub = await openIn(s, wsUrl(d), { origin: 'https://app.eu.example.com' });
    await openIn(s, wsUrl(d), { origin: 'https://phone.test:8443' });
    for (const origin of ['https://evil.test', 'https://example.com', 'http://app.example.com',
      'https://phone.test', undefined]) {
      const r = await connect(wsUrl(d), { origin });
      if (r.ws) r.ws.terminate();
      assert.equal(r.status, 403, `Origin ${origin}: ${r.ws ? 'opened' : r.status ?? r.error}`);
    }
    assert.equal((await ping(sub)).status, 200, 'the allowed client is still served');
    await d.waitStderr(/Origin 'https:\/\/evil\.test' not allowed/);
  }));

test('origin policy: no Origin (native client) passes by default', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', extraSets: ['ws_allowed_origins=https://a.test'] });
    const native = await openIn(s, wsUrl(d));
    assert.equal((await ping(native)).status, 200);
    const r = await connect(wsUrl(d), { origin: 'https://b.test' });
    assert.equal(r.status, 403);
  }));

test('ws_max_connections_per_ip: the third connection gets 429 with Retry-After; a slot frees on close', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', extraSets: ['ws_max_connections_per_ip=2'] });
    const a = await openIn(s, wsUrl(d));
    const b = await openIn(s, wsUrl(d));
    const r = await connect(wsUrl(d));
    if (r.ws) r.ws.terminate();
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers['retry-after']) > 0, 'Retry-After');
    assert.equal((await ping(a)).status, 200, 'admitted clients are still served');
    b.close(1000);
    await b.closed;
    // The daemon notices the close asynchronously: retry (bounded) until a slot is free.
    const c = await waitFor(async () => {
      const x = await connect(wsUrl(d));
      if (x.ws) return x.ws;
      assert.equal(x.status, 429);
      return null;
    }, { ms: kWait, intervalMs: 50, what: 'a free per-IP slot' });
    s.defer(() => c.terminate());
  }));

test('ws_max_connections: over the total gets 503; ws_connection_limit_exempt does not lift it', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      extraSets: ['ws_max_connections=2', 'ws_connection_limit_exempt=127.0.0.0/8'],
    });
    const a = await openIn(s, wsUrl(d));
    await openIn(s, `wss://127.0.0.1:${d.ports.wss}`);  // the total spans WS and WSS
    const r = await connect(wsUrl(d));
    if (r.ws) r.ws.terminate();
    assert.equal(r.status, 503);
    assert.ok(r.headers['retry-after']);
    assert.equal((await ping(a)).status, 200);
  }));

test('ws_connection_limit_exempt lifts the per-IP limit', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      extraSets: ['ws_max_connections_per_ip=1', 'ws_connection_limit_exempt=127.0.0.1'],
    });
    for (let i = 0; i < 3; i++) await openIn(s, wsUrl(d));
  }));

test('slowloris: connections without a complete upgrade are closed after ws_handshake_timeout', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', extraSets: ['ws_handshake_timeout=1000'] });
    const silent = await rawSocket(s, d.ports.ws);
    const partial = await rawSocket(s, d.ports.ws);
    partial.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
    const silentTls = await rawSocket(s, d.ports.wss);  // no TLS ClientHello either
    const t0 = Date.now();
    const good = await openIn(s, wsUrl(d));
    assert.equal((await ping(good)).status, 200, 'a real client is served meanwhile');
    await withTimeout(Promise.all([silent.gone, partial.gone, silentTls.gone]), 4000,
      'the daemon closing the slow connections');
    assert.ok(Date.now() - t0 >= 700, 'closed too early');
    assert.equal(partial.data.length, 0, 'no HTTP response to an incomplete request');
    await d.waitStderr(/no complete upgrade within ws_handshake_timeout/);
    assert.equal((await ping(good)).status, 200, 'the upgraded client is not affected');
  }));

test('ws_first_message_timeout: an upgraded flow that sends nothing is closed with 1008', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', extraSets: ['ws_first_message_timeout=1000'] });
    const idle = await openIn(s, wsUrl(d));
    const talker = await openIn(s, wsUrl(d));
    assert.equal((await ping(talker)).status, 200);
    assert.equal(await withTimeout(idle.closed, 4000, 'close of the idle flow'), 1008);
    assert.equal((await ping(talker)).status, 200, 'the talking flow stays open');
  }));

test('ws_max_message_rate: a flooding flow is closed with 1008, others keep being served', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', trace: false, extraSets: ['ws_max_message_rate=10'] });
    const burst = await openIn(s, wsUrl(d));
    const flood = await openIn(s, wsUrl(d));
    const calm = await openIn(s, wsUrl(d));
    // 11 messages at once against a bucket of 10: ten are served, the 11th closes with 1008.
    // (websocketpp drops the TCP connection right after a 1008 close frame, so a client that
    // keeps sending may see a reset (1006) instead: that is the flood below.)
    for (let i = 0; i < 11; i++) burst.send(options().text);
    assert.equal(await withTimeout(burst.closed, 4000, 'close of the bursting flow'), 1008);
    const answered = burst.received.filter((m) => /^SIP\/2\.0 200/.test(m.text)).length;
    assert.equal(answered, 10, `${answered} of 11 answered`);
    for (let i = 0; i < 200; i++) flood.send(options().text);
    assert.ok([1008, 1006].includes(await withTimeout(flood.closed, 4000, 'close of the flood')));
    const served = flood.received.filter((m) => /^SIP\/2\.0 200/.test(m.text)).length;
    assert.ok(served <= 10, `${served} of 200 answered`);
    assert.equal(d.stderr().match(/over ws_max_message_rate/g).length, 2);
    for (let i = 0; i < 3; i++) assert.equal((await ping(calm)).status, 200);
  }));

test('max_message_size: a larger WS message closes with 1009; on TCP it gets 513', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', extraSets: ['max_message_size=2048'] });
    const big = await openIn(s, wsUrl(d));
    const other = await openIn(s, wsUrl(d));
    big.send(options([`X-Pad: ${'a'.repeat(3000)}`]).text);
    assert.equal(await withTimeout(big.closed, 4000, 'close of the oversized flow'), 1009);
    assert.equal((await ping(other)).status, 200);
    const tcp = await rawSocket(s, d.ports.tcp);
    const o = options([`X-Pad: ${'a'.repeat(3000)}`]);
    tcp.write(o.text.replace('SIP/2.0/WS', 'SIP/2.0/TCP'));
    await waitFor(() => tcp.data.includes('\r\n\r\n'), { ms: kWait, what: 'the TCP answer' });
    assert.match(tcp.data.toString(), /^SIP\/2\.0 513 /);
  }));

test('framing: invalid UTF-8 in a text frame closes with 1007, nothing reaches the SIP stack', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off' });
    const sock = await rawWs(s, d.ports.ws);
    const o = options();
    sock.write(frame(0x1, Buffer.concat([Buffer.from(o.text), Buffer.from([0xc3, 0x28])])));
    await waitFor(() => closeCodeOf(serverFrames(sock.data)) !== null, { ms: kWait, what: 'a close frame' });
    assert.equal(closeCodeOf(serverFrames(sock.data)), 1007);
    assert.ok(!serverFrames(sock.data).some((f) => f.opcode === 1 || f.opcode === 2),
      'no SIP response');
    assert.ok(!d.stderr().includes(o.callId), 'the message reached the SIP stack (--trace RECV)');
  }));

test('framing: a fragmented message (with a ping in between) is one SIP message', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off' });
    const sock = await rawWs(s, d.ports.ws);
    const o = options();
    const text = Buffer.from(o.text);
    sock.write(Buffer.concat([
      frame(0x1, text.subarray(0, 20), false),
      frame(0x0, text.subarray(20, 90), false),
      frame(0x9, 'are you there'),
      frame(0x0, text.subarray(90), true),
    ]));
    await waitFor(() => serverFrames(sock.data).some((f) => f.opcode === 1), { ms: kWait, what: 'the 200' });
    const frames = serverFrames(sock.data);
    assert.ok(frames.some((f) => f.opcode === 0xa && f.payload.toString() === 'are you there'), 'pong');
    const sip = frames.filter((f) => f.opcode === 1).map((f) => parseSip(f.payload.toString()));
    assert.equal(sip.length, 1);
    assert.equal(sip[0].status, 200);
    assert.equal(sip[0].headers('Call-ID')[0], o.callId);
  }));

test('framing: SIP with non-UTF-8 bytes is sent in a binary frame, other SIP in text frames', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off' });
    const ws = await openIn(s, wsUrl(d));
    const plain = await ping(ws);
    assert.equal(plain.status, 200);
    assert.equal(plain.isBinary, false);
    // The response copies From, which carries a Latin-1 display name: not UTF-8.
    const o = options();
    const raw = Buffer.from(
      o.text.replace('From: <sip:probe@example.net>', 'From: "Jos\xe9" <sip:probe@example.net>'),
      'latin1',
    );
    ws.send(raw, { binary: true });
    const hit = await waitFor(() => ws.received.find((m) => m.text.includes(o.callId)),
      { ms: kWait, what: 'the response to the binary OPTIONS' });
    assert.match(hit.text, /^SIP\/2\.0 200 /);
    assert.equal(hit.isBinary, true);
  }));

test('keep-alive: WS pings on idle flows (ws_ping_interval); TCP CRLFCRLF gets CRLF', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {
      auth: 'off',
      extraSets: ['ws_ping_interval=1', 'ws_pong_timeout=1', 'ws_first_message_timeout=0'],
    });
    const answering = await openIn(s, wsUrl(d));
    const silent = await openIn(s, wsUrl(d), { autoPong: false });
    await withTimeout(new Promise((r) => answering.once('ping', r)), 4000, 'a WS ping');
    // No pong: the flow is dropped (no close frame: the peer is presumed dead).
    assert.equal(await withTimeout(silent.closed, 6000, 'the silent flow dropped'), 1006);
    assert.equal((await ping(answering)).status, 200);
    const tcp = await rawSocket(s, d.ports.tcp);
    tcp.write('\r\n\r\n');
    await waitFor(() => tcp.data.length >= 2, { ms: kWait, what: 'the CRLF pong' });
    assert.equal(tcp.data.toString(), '\r\n');
  }));

test('a WS flow that dies makes its binding unreachable at once: INVITE gets 430/480', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off' });
    const ws = await openIn(s, wsUrl(d));
    const inst = crypto.randomUUID();
    const id = crypto.randomBytes(6).toString('hex');
    ws.send([
      'REGISTER sip:localhost SIP/2.0',
      `Via: SIP/2.0/WS ${id}.invalid;branch=z9hG4bK${id}`,
      'Max-Forwards: 70',
      'To: <sip:alice@localhost>',
      `From: <sip:alice@localhost>;tag=${id}`,
      `Call-ID: reg-${id}`,
      'CSeq: 1 REGISTER',
      `Contact: <sip:alice@${id}.invalid;transport=ws>;+sip.instance="<urn:uuid:${inst}>";reg-id=1;expires=300`,
      'Supported: outbound, path',
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n'));
    const reg = await waitFor(() => ws.received.find((m) => m.text.includes(`reg-${id}`)),
      { ms: kWait, what: 'the REGISTER response' });
    assert.match(reg.text, /^SIP\/2\.0 200 /);

    const udp = dgram.createSocket('udp4');
    s.defer(() => new Promise((r) => udp.close(r)));
    const answers = [];
    udp.on('message', (m) => answers.push(m.toString()));
    await new Promise((r) => udp.bind(0, '127.0.0.1', r));
    const port = udp.address().port;
    const invite = (n) => {
      const cid = `inv-${n}-${id}`;
      udp.send([
        'INVITE sip:alice@localhost SIP/2.0',
        `Via: SIP/2.0/UDP 127.0.0.1:${port};rport;branch=z9hG4bK${n}${id}`,
        'Max-Forwards: 70',
        'To: <sip:alice@localhost>',
        `From: <sip:bob@example.net>;tag=b${n}`,
        `Call-ID: ${cid}`,
        'CSeq: 1 INVITE',
        `Contact: <sip:bob@127.0.0.1:${port}>`,
        'Content-Length: 0',
        '',
        '',
      ].join('\r\n'), d.ports.udp, '127.0.0.1');
      return cid;
    };

    // While the flow lives, the INVITE reaches the WS client.
    const c1 = invite(1);
    const inv = await waitFor(() => ws.received.find((m) => m.text.startsWith('INVITE ') && m.text.includes(c1)),
      { ms: kWait, what: 'the INVITE over the WS flow' });
    assert.ok(inv);

    ws._socket.destroy();  // the TCP connection dies without a WebSocket close
    await waitFor(() => /flow \d+ closed \(peer [^,]+, remote code 1006\)/.test(d.stderr()),
      { ms: kWait, what: 'the daemon noticing the dead flow' });
    const t0 = Date.now();
    const c2 = invite(2);
    const final = await waitFor(() => answers.map(parseSip).find(
      (m) => m.headers('Call-ID|i')[0] === c2 && m.status >= 300), { ms: 3000, what: 'a final answer' });
    // The WS binding died with its flow (registrar: removed on flow close): 480 for the known
    // AOR; 430 would come from an Outbound binding kept as flow-dead (TCP/TLS).
    assert.ok([430, 480].includes(final.status), `got ${final.first}`);
    assert.ok(Date.now() - t0 < 2000, 'not answered at once');
  }));
