// RFC 7118 s.7 through the running daemon: dnsmasq publishes a SIP server reachable only over
// WebSocket (NAPTR SIP+D2W -> SRV _sip._ws -> A), and sipws A dials it with its WebSocket
// client. The located server is a second sipws (B), registrar of bob (a SIPp UAS on UDP).
// Runs in the netns stage (scripts/test.sh) with the other tests whose daemon resolves names.
// The caller (SIPp, sip:sipp@example.net) is a trusted trunk of A (`trusted_peers` with relay:
// UDP from 127.0.0.1 with that From only), so A relays it to the other domain; B federates
// (`foreign_callers=allow`): the caller of another domain reaches its user bob.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dnsmasqIn, haveDnsmasq } from '../integration/lib/dnsmasq.mjs';
import { daemonIn, sippIn, sippPeer } from '../integration/lib/fixtures.mjs';
import { freePort } from '../integration/lib/ports.mjs';
import { withScope } from '../integration/lib/scope.mjs';
import { withTimeout } from '../integration/lib/wait.mjs';

const skip = haveDnsmasq ? false : 'dnsmasq not installed (scripts/install-deps.sh --test)';

test('DNS: NAPTR SIP+D2W / SRV _sip._ws locate a WebSocket-only server, which sipws dials and calls through',
  { skip },
  (t) => withScope(t, async (s) => {
    const domain = 'ws.sipws.test';
    // B: registrar for the domain, reachable by A only over its WS listener.
    const b = await daemonIn(s, { foreignCallers: 'allow', extraSets: [`domain=${domain}`] });
    const dns = await dnsmasqIn(s, {
      domains: ['sipws.test'],
      records: [
        `--naptr-record=${domain},10,10,s,SIP+D2W,,_sip._ws.${domain}`,
        `--srv-host=_sip._ws.${domain},edge.sipws.test,${b.ports.ws},10,0`,
        '--host-record=edge.sipws.test,127.0.0.1',
      ],
    });
    const uasPort = await freePort();
    await b.addUser(`bob@${domain}`, 'secret');
    const reg = await sippIn(s, 'register bob at B (udp)', {
      scenario: 'register.xml',
      port: uasPort,
      remote: `127.0.0.1:${b.ports.udp}`,
      keys: { aor_user: 'bob', aor_domain: domain },
      args: ['-au', 'bob', '-ap', 'secret'],
    });
    assert.equal((await withTimeout(reg.done, 25000, 'SIPp REGISTER exit')).code, 0);
    const uas = await sippIn(s, 'uas (udp, bob at B)', { scenario: 'uas_call.xml', port: uasPort });

    const a = await daemonIn(s, {
      trustedPeers: [sippPeer({ relay: true })],
      extraSets: [`dns_servers=${dns.server}`],
    });
    const uac = await sippIn(s, 'uac (udp, calls via A)', {
      scenario: 'uac_call.xml',
      port: await freePort(),
      remote: `127.0.0.1:${a.ports.udp}`,
      keys: { target_uri: `sip:bob@${domain}` },
    });
    const [r1, r2] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
    assert.equal(r1.code, 0, 'the caller did not complete the call');
    assert.equal(r2.code, 0, 'bob (registered at B) did not complete the call');

    const log = dns.log();
    assert.match(log, new RegExp(`query\\[NAPTR\\] ${domain.replace(/\./g, '\\.')}`));
    assert.match(log, new RegExp(`query\\[SRV\\] _sip\\._ws\\.${domain.replace(/\./g, '\\.')}`));
    const alog = a.stderr();
    assert.equal((alog.match(/WS client flow \d+ open to 127\.0\.0\.1:\d+\//g) || []).length, 1,
      'A opened one WebSocket connection to the located server');
    assert.match(alog, new RegExp(`SEND WS 127\\.0\\.0\\.1:${b.ports.ws} flow=\\d+ \\d+ bytes\\nINVITE sip:bob@${domain.replace(/\./g, '\\.')} `));
  }));
