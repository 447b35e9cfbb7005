// DTMF toward a peer that wants SIP INFO (issue 14 item 5, `dtmf: "info"` on a gateway): a
// phone's RFC 4733 key presses, sent in the RTP of an anchored call, reach the gateway as INFO
// requests with an application/dtmf-relay body, in the phone's dialog and CSeq sequence; the
// phone's own later request (BYE) is numbered above them at the gateway and its response gets
// the phone's number back. The gateway is offered no telephone-event, the phone keeps it, and
// no event packet reaches the gateway's RTP port. Everything is raw UDP from Node on loopback:
// the phone at 127.0.0.1, the gateway at 127.0.0.2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { metric } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { SipClient, buildResponse, endpointIn, param, plainSdp } from './lib/rawsip.mjs';
import { freePort } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

const kGateway = '127.0.0.2';

/** A UDP socket on 127.0.0.1 that keeps every datagram it gets; closed with the scope. */
async function rtpSocket(s) {
  const sock = dgram.createSocket('udp4');
  await new Promise((resolve) => sock.bind(0, '127.0.0.1', resolve));
  s.defer(() => new Promise((resolve) => sock.close(resolve)));
  const got = [];
  sock.on('message', (b) => got.push(b));
  return { sock, port: sock.address().port, got };
}

/** An RTP packet (RFC 3550): PCMU audio, or an RFC 4733 event when `event` is given. */
function rtp({ pt, seq, ts, event, end = false, duration = 0 }) {
  const head = Buffer.alloc(12);
  head[0] = 0x80;
  head[1] = pt;
  head.writeUInt16BE(seq, 2);
  head.writeUInt32BE(ts, 4);
  head.writeUInt32BE(0x5eed, 8);
  if (event === undefined) return Buffer.concat([head, Buffer.alloc(160, 0xff)]);
  const ev = Buffer.from([event, (end ? 0x80 : 0) | 10, duration >> 8, duration & 0xff]);
  return Buffer.concat([head, ev]);
}

const cseqOf = (m) => Number.parseInt(m.get('cseq'), 10);
const mLine = (sdp) => /^m=audio \d+ RTP\/AVP ([0-9 ]+)$/m.exec(sdp)?.[1];

test('key presses of an anchored call reach a gateway that wants INFO as INFO requests',
  (t) => withScope(t, async (s) => {
    const gwPort = await freePort();
    const gateways = [{ name: 'PBX', uri: `sip:${kGateway}:${gwPort}`, dtmf: 'info' }];
    const routes = [{ match: '^9[0-9]+$', gateways: ['PBX'] }];
    const d = await daemonIn(s, { extraSets: [`gateways=${JSON.stringify(gateways)}`,
      `routes=${JSON.stringify(routes)}`, 'media_anchor=always', 'media_address=127.0.0.1'] });
    await d.addUser('alice@localhost', 'secret');

    // The gateway: answers INVITE (G.711 only, no telephone-event), INFO and BYE with 200.
    const gwRtp = await rtpSocket(s);
    const gw = await endpointIn(s, 'the gateway', { host: kGateway, port: gwPort });
    gw.onRequest = (msg, rinfo) => {
      if (msg.method === 'ACK') return;
      const headers = msg.method === 'INVITE' ? [`Contact: <sip:pbx@${kGateway}:${gwPort}>`] : [];
      gw.send(buildResponse(msg, 200, 'OK', {
        toTag: 'pbx1', headers,
        body: msg.method === 'INVITE' ? plainSdp('127.0.0.1', gwRtp.port) : '',
      }), rinfo.port, rinfo.address);
    };

    // The phone offers PCMU and telephone-event 101.
    const phoneRtp = await rtpSocket(s);
    const offer = plainSdp('127.0.0.1', phoneRtp.port)
      .replace('RTP/AVP 0', 'RTP/AVP 0 101')
      .concat('a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n');
    const phoneEp = await endpointIn(s, 'the phone');
    const phone = new SipClient(phoneEp, { server: { host: '127.0.0.1', port: d.ports.udp },
      user: 'alice', password: 'secret' });
    const call = await phone.request('INVITE', 'sip:95551234@localhost', { body: offer });
    assert.equal(call.final.status, 200);

    const invite = gw.received.find((e) => e.msg.method === 'INVITE').msg;
    assert.equal(mLine(invite.body), '0', `the gateway is offered no telephone-event:\n${invite.body}`);
    const answer = call.final.body;
    assert.equal(mLine(answer), '0 101', `the phone keeps telephone-event:\n${answer}`);
    assert.match(answer, /^a=rtpmap:101 telephone-event\/8000/m);
    const bridgePort = Number(/^m=audio (\d+)/m.exec(answer)[1]);

    // Audio, then key 1 and key # (each: two packets and the end packet three times).
    const send = (b) => new Promise((r) => phoneRtp.sock.send(b, bridgePort, '127.0.0.1', r));
    let seq = 1;
    await send(rtp({ pt: 0, seq: seq++, ts: 160 }));
    for (const [event, ts] of [[1, 320], [11, 2000]]) {
      await send(rtp({ pt: 101, seq: seq++, ts, event, duration: 160 }));
      await send(rtp({ pt: 101, seq: seq++, ts, event, duration: 320 }));
      for (let i = 0; i < 3; i++) {
        await send(rtp({ pt: 101, seq: seq++, ts, event, end: true, duration: 800 }));
      }
    }
    await send(rtp({ pt: 0, seq: seq++, ts: 3000 }));
    const infos = () => gw.received.filter((e) => e.msg.method === 'INFO').map((e) => e.msg);
    await waitFor(() => infos().length >= 2 && gwRtp.got.length >= 2, {
      ms: 5000, what: 'two INFOs and two audio packets at the gateway' });

    const [i1, i2] = infos();
    assert.equal(infos().length, 2, 'one INFO per key press');
    for (const [info, signal] of [[i1, '1'], [i2, '#']]) {
      assert.equal(info.get('content-type'), 'application/dtmf-relay');
      assert.equal(info.body, `Signal=${signal}\r\nDuration=100\r\n`);
      assert.equal(info.get('call-id'), call.callId, 'in the phone\'s dialog');
      assert.equal(param(info.get('from'), 'tag'), call.fromTag);
      assert.equal(param(info.get('to'), 'tag'), 'pbx1');
      assert.match(info.text, new RegExp(`^INFO sip:pbx@${kGateway}:${gwPort} SIP/2.0`));
    }
    assert.ok(cseqOf(i1) > cseqOf(invite), 'the INFOs follow the INVITE in the phone\'s sequence');
    assert.equal(cseqOf(i2), cseqOf(i1) + 1);
    // What reached the gateway's RTP port is the audio, never an event packet.
    assert.deepEqual(gwRtp.got.map((b) => b[1] & 0x7f), [0, 0]);

    // The phone's BYE (its next CSeq) reaches the gateway above the INFOs; its 200 carries the
    // phone's own number.
    const ok = await phone.inDialog(call.dialog, 'BYE');
    assert.equal(ok.status, 200);
    assert.equal(cseqOf(ok), call.dialog.cseq, 'the response has the phone\'s CSeq');
    const bye = gw.received.find((e) => e.msg.method === 'BYE').msg;
    assert.equal(cseqOf(bye), cseqOf(i2) + 1, 'the gateway sees one growing sequence');
    assert.equal(await metric(d, 'media_dtmf_key_presses'), 2);
  }));
