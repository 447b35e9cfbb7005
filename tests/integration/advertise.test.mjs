// `listen` entries with `advertise HOST[:PORT]` (Kamailio's syntax): a listener behind NAT or
// known by a DNS name writes that name in Via and Record-Route, and recognises a Route naming it
// as itself (loose routing, RFC 3261 s.16.4), while it still binds and answers on its own
// address. The name here (sip.example.net) resolves nowhere: a request that sipws tried to send
// to it instead of treating it as its own would never arrive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn } from './lib/fixtures.mjs';
import { endpointIn, SipClient, buildResponse, plainSdp } from './lib/rawsip.mjs';
import { freePorts } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';

const kName = 'sip.example.net';
const kPort = 5099;

test('advertise: Via and Record-Route carry the advertised name, and a Route naming it is ours',
  (t) => withScope(t, async (s) => {
    const [udp, tcp, ws, wss, admin] = await freePorts(5);
    const d = await daemonIn(s, {
      auth: 'off',
      ports: { udp, tcp, ws, wss, admin },
      extraSets: [`listen=udp:127.0.0.1:${udp} advertise ${kName}:${kPort},tcp:127.0.0.1:${tcp},` +
        `ws:127.0.0.1:${ws},wss:127.0.0.1:${wss}`],
    });
    assert.match(d.stderr(),
      new RegExp(`sipws ready: udp:127\\.0\\.0\\.1:${udp}\\(advertised ${kName}:${kPort}\\) ` +
        `tcp:127\\.0\\.0\\.1:${tcp} `), 'the ready line says what is advertised');

    // Bob: a UDP phone registered at sipws; answers INVITE 200 and BYE 200.
    const bobEp = await endpointIn(s, 'bob');
    const bob = new SipClient(bobEp, { server: { host: '127.0.0.1', port: udp }, user: 'bob' });
    const invites = [];
    const byes = [];
    bobEp.onRequest = (msg, rinfo) => {
      if (msg.method === 'INVITE') {
        invites.push(msg);
        bobEp.send(buildResponse(msg, 200, 'OK', {
          toTag: 'bob1',
          headers: [`Contact: <sip:bob@127.0.0.1:${bobEp.port}>`],
          body: plainSdp('127.0.0.1', 41000),
        }), rinfo.port, rinfo.address);
      } else if (msg.method === 'BYE') {
        byes.push(msg);
        bobEp.send(buildResponse(msg, 200, 'OK'), rinfo.port, rinfo.address);
      }
    };
    assert.equal((await bob.register()).final.status, 200);

    const aliceEp = await endpointIn(s, 'alice');
    const alice = new SipClient(aliceEp, { server: { host: '127.0.0.1', port: udp }, user: 'alice' });
    const call = await alice.request('INVITE', 'sip:bob@localhost', { body: plainSdp() });
    assert.equal(call.final.status, 200);

    // What bob saw: sipws's Via and Record-Route name the advertised host and port only.
    assert.equal(invites.length >= 1, true);
    const inv = invites[0];
    assert.match(inv.all('via')[0], new RegExp(`^SIP/2\\.0/UDP ${kName}:${kPort};branch=`));
    const rr = inv.all('record-route');
    assert.equal(rr.length, 1, `one Record-Route: ${rr}`);
    assert.match(rr[0], new RegExp(`^<sip:${kName}:${kPort};lr`));
    assert.ok(!inv.text.includes(`127.0.0.1:${udp}`), 'the bound address is not written');
    // ...and alice got the same route set back in the 200.
    assert.deepEqual(call.final.all('record-route'), rr);

    // The BYE carries Route: <sip:sip.example.net:5099;lr...>, sent to sipws's real address:
    // sipws must take it as its own entry and reach bob.
    const ok = await alice.inDialog(call.dialog, 'BYE');
    assert.equal(ok.status, 200);
    assert.equal(byes.length, 1);
    assert.ok(!(byes[0].all('route') || []).some((r) => r.includes(kName)),
      'sipws removed its own Route entry');
  }));
