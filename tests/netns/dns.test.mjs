// RFC 3263 DNS through the running daemon: dnsmasq serves NAPTR / SRV / A records that point at
// SIPp user agents on 127.0.0.1, and sipws (dns_servers = that dnsmasq) routes calls by them.
// Runs in the netns stage (scripts/test.sh: `unshare -n`, loopback only) with the other tests
// whose daemon resolves names; every name here is answered by the local dnsmasq alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../integration/lib/daemon.mjs';
import { dnsmasqIn, haveDnsmasq } from '../integration/lib/dnsmasq.mjs';
import { daemonIn, sippIn } from '../integration/lib/fixtures.mjs';
import { freePort } from '../integration/lib/ports.mjs';
import { withScope } from '../integration/lib/scope.mjs';
import { scenarioDir } from '../integration/lib/sipp.mjs';
import { waitFor } from '../integration/lib/wait.mjs';

const skip = haveDnsmasq ? false : 'dnsmasq not installed (scripts/install-deps.sh --test)';

/** selfcheck_uas_reject.xml answering `code`, in a temp dir. */
function rejectScenario(s, code) {
  const text = fs.readFileSync(path.join(scenarioDir, 'selfcheck_uas_reject.xml'), 'utf8');
  const dir = makeTempDir('sipws-scn-');
  s.tempDir(dir);
  const file = path.join(dir, `uas_reject_${code}.xml`);
  fs.writeFileSync(file, text.replaceAll('REJECT_CODE', String(code)));
  return file;
}

test('DNS: SRV priority 10 answers 503, sipws fails over to priority 20 which takes the call',
  { skip },
  (t) => withScope(t, async (s) => {
    const [p503, p200, uacPort] = [await freePort(), await freePort(), await freePort()];
    const dns = await dnsmasqIn(s, {
      domains: ['failover.test'],
      records: [
        `--srv-host=_sip._udp.failover.test,busy.failover.test,${p503},10,0`,
        `--srv-host=_sip._udp.failover.test,spare.failover.test,${p200},20,0`,
        '--host-record=busy.failover.test,127.0.0.1',
        '--host-record=spare.failover.test,127.0.0.1',
      ],
    });
    const d = await daemonIn(s, { auth: 'off', extraSets: [`dns_servers=${dns.server}`] });
    const busy = await sippIn(s, 'UAS priority 10 (503)', { scenario: rejectScenario(s, 503), port: p503 });
    const spare = await sippIn(s, 'UAS priority 20 (200)', { scenario: 'uas_call.xml', port: p200 });
    const uac = await sippIn(s, 'UAC', {
      scenario: 'uac_call.xml',
      port: uacPort,
      remote: `127.0.0.1:${d.ports.udp}`,
      keys: { target_uri: 'sip:service@failover.test' },
    });
    const [a, b, c] = await Promise.all([uac.done, busy.done, spare.done]);
    assert.equal(b.code, 0, 'the priority-10 UAS got the INVITE, answered 503 and got its ACK');
    assert.equal(c.code, 0, 'the priority-20 UAS took the call (INVITE, ACK, BYE)');
    assert.equal(a.code, 0, 'the caller got 200 and completed the call');
    await d.waitStderr(new RegExp(`failing over to UDP 127\\.0\\.0\\.1:${p200}`),
      'the core retried on the next SRV target');
    const log = dns.log();
    assert.match(log, /query\[NAPTR\] failover\.test/, 'NAPTR asked first');
    assert.match(log, /query\[SRV\] _sip\._udp\.failover\.test/, 'then SRV per transport');
  }));

test('DNS: NAPTR SIP+D2T (order 10) before SIP+D2U (order 20) makes sipws forward over TCP',
  { skip },
  (t) => withScope(t, async (s) => {
    const [pTcp, pUdp, uacPort] = [await freePort(), await freePort(), await freePort()];
    const dns = await dnsmasqIn(s, {
      domains: ['naptr.test'],
      records: [
        '--naptr-record=naptr.test,20,10,s,SIP+D2U,,_sip._udp.naptr.test',
        '--naptr-record=naptr.test,10,10,s,SIP+D2T,,_sip._tcp.naptr.test',
        `--srv-host=_sip._tcp.naptr.test,pbx.naptr.test,${pTcp},10,0`,
        `--srv-host=_sip._udp.naptr.test,pbx.naptr.test,${pUdp},10,0`,
        '--host-record=pbx.naptr.test,127.0.0.1',
      ],
    });
    const d = await daemonIn(s, { auth: 'off', extraSets: [`dns_servers=${dns.server}`] });
    const uas = await sippIn(s, 'UAS over TCP', { scenario: 'uas_call.xml', port: pTcp, transport: 't1' });
    const uac = await sippIn(s, 'UAC over UDP', {
      scenario: 'uac_call.xml',
      port: uacPort,
      remote: `127.0.0.1:${d.ports.udp}`,
      keys: { target_uri: 'sip:service@naptr.test' },
    });
    const [a, b] = await Promise.all([uac.done, uas.done]);
    assert.equal(b.code, 0, 'the TCP UAS took the call');
    assert.equal(a.code, 0, 'the caller completed the call');
    await d.waitStderr(new RegExp(`SEND TCP 127\\.0\\.0\\.1:${pTcp} `), 'INVITE sent over TCP');
    assert.doesNotMatch(d.stderr(), new RegExp(`SEND UDP 127\\.0\\.0\\.1:${pUdp} `), 'nothing over UDP');
  }));

test('DNS: a request for an unknown domain (NXDOMAIN) gets its final answer at once', { skip },
  (t) => withScope(t, async (s) => {
    const dns = await dnsmasqIn(s, { domains: ['nx.test'], records: [] });
    const d = await daemonIn(s, { auth: 'off', extraSets: [`dns_servers=${dns.server}`] });
    const sock = dgram.createSocket('udp4');
    await new Promise((r) => sock.bind(0, '127.0.0.1', r));
    s.defer(() => new Promise((r) => sock.close(r)));
    const port = sock.address().port;
    const finals = [];
    sock.on('message', (m) => {
      const status = /^SIP\/2\.0 (\d{3})/.exec(m.toString())?.[1];
      if (status && Number(status) >= 200) finals.push(Number(status));
    });
    const started = Date.now();
    sock.send(
      'MESSAGE sip:nobody@nowhere.nx.test SIP/2.0\r\n' +
        `Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bKnx1;rport\r\n` +
        'Max-Forwards: 70\r\nFrom: <sip:tester@example.net>;tag=nx1\r\n' +
        'To: <sip:nobody@nowhere.nx.test>\r\nCall-ID: nx-1@test\r\nCSeq: 1 MESSAGE\r\n' +
        'Content-Length: 0\r\n\r\n',
      d.ports.udp, '127.0.0.1');
    await waitFor(() => finals.length > 0, { ms: 5000, what: 'a final response' });
    assert.equal(finals[0], 500, 'no destination: the branch\'s 503 is relayed as 500 (s.16.7)');
    assert.ok(Date.now() - started < 5000);
    assert.match(dns.log(), /nowhere\.nx\.test is NXDOMAIN/);
  }));
