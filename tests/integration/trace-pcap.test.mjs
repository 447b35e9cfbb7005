// trace_pcap (issue 15, docs/configuration.md): every SIP message sipws receives and sends is
// also written to a pcap file that tshark decodes as SIP (each message one UDP datagram between
// the real addresses and ports, WS messages too), with the digest response masked; the file is
// written with trace_messages=0; a file that cannot be created stops start-up naming the key.
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import WebSocket from 'ws';
import assert from 'node:assert/strict';
import { makeTempDir, metric, runCli } from './lib/daemon.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { freePorts } from './lib/ports.mjs';
import { SipClient, endpointIn } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent, waitFor } from './lib/wait.mjs';

const haveTshark = spawnSync('tshark', ['--version']).status === 0;

/**
 * The packets of pcap `file` as tshark decodes them, SIP on `ports`:
 * [{src, srcPort, dst, dstPort, callId, method, status}] (stdout only: as root tshark warns on
 * stderr).
 */
function tsharkSip(file, ports) {
  const args = ['-r', file, ...ports.flatMap((p) => ['-d', `udp.port==${p},sip`]),
    '-T', 'fields', '-E', 'separator=|', '-e', '_ws.col.Source', '-e', 'udp.srcport',
    '-e', '_ws.col.Destination', '-e', 'udp.dstport', '-e', 'sip.Call-ID', '-e', 'sip.Method',
    '-e', 'sip.Status-Code'];
  return new Promise((resolve, reject) => {
    execFile('tshark', args, { timeout: 20000 }, (err, stdout) => {
      if (err && !stdout) return reject(err);
      resolve(stdout.split('\n').filter((l) => l).map((l) => {
        const [src, srcPort, dst, dstPort, callId, method, status] = l.split('|');
        return { src, srcPort: Number(srcPort), dst, dstPort: Number(dstPort), callId, method,
          status: status ? Number(status) : null };
      }));
    });
  });
}

test('trace_pcap: UDP and WS messages in both directions, decoded by tshark, credentials masked',
  { skip: !haveTshark && 'tshark is not installed' }, (t) =>
    withScope(t, async (s) => {
      const dir = makeTempDir('sipws-pcap-');
      s.tempDir(dir);
      const file = path.join(dir, 'trace.pcap');
      fs.writeFileSync(file, 'an older capture');
      const d = await daemonIn(s, { extraSets: [`trace_pcap=${file}`, 'trace_messages=0'] });
      assert.equal(fs.readFileSync(`${file}.1`, 'utf8'), 'an older capture', 'the old file moved to .1');
      await d.addUser('alice@localhost', 'alice-secret');

      // UDP: a REGISTER challenged, then accepted.
      const ep = await endpointIn(s, 'alice');
      const alice = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp },
        user: 'alice', password: 'alice-secret' });
      const reg = await alice.register();
      assert.equal(reg.final.status, 200);
      const response = /response="([0-9a-f]{32})"/.exec(reg.attempts[1])[1];

      // WS: an OPTIONS over the sip subprotocol.
      const ws = new WebSocket(`ws://127.0.0.1:${d.ports.ws}`, 'sip');
      s.defer(() => ws.close());
      await waitEvent(ws, 'open');
      const wsCallId = `pcap-ws-${process.pid}@test`;
      const answered = waitEvent(ws, 'message');
      ws.send(['OPTIONS sip:localhost SIP/2.0', 'Via: SIP/2.0/WS abc.invalid;branch=z9hG4bKpcapws1',
        'Max-Forwards: 70', 'From: <sip:ws@localhost>;tag=w1', 'To: <sip:localhost>',
        `Call-ID: ${wsCallId}`, 'CSeq: 1 OPTIONS', 'Content-Length: 0', '', ''].join('\r\n'));
      assert.match(String(await answered), /^SIP\/2\.0 200/);

      const ports = [d.ports.udp, d.ports.ws];
      let packets = [];
      await waitFor(async () => {
        packets = await tsharkSip(file, ports);
        return packets.some((p) => p.callId === wsCallId && p.status === 200) &&
          packets.filter((p) => p.callId === reg.callId && p.status !== null).length >= 2;
      }, { ms: 15000, intervalMs: 250, what: 'the messages in the pcap file' });

      const regs = packets.filter((p) => p.callId === reg.callId);
      const fromAlice = regs.filter((p) => p.srcPort === ep.port && p.dstPort === d.ports.udp);
      const toAlice = regs.filter((p) => p.srcPort === d.ports.udp && p.dstPort === ep.port);
      assert.deepEqual(fromAlice.map((p) => p.method), ['REGISTER', 'REGISTER'], JSON.stringify(regs));
      assert.deepEqual(toAlice.map((p) => p.status), [401, 200], JSON.stringify(regs));
      for (const p of regs) assert.equal(p.src, '127.0.0.1');
      const wsMsgs = packets.filter((p) => p.callId === wsCallId);
      assert.ok(wsMsgs.some((p) => p.method === 'OPTIONS' && p.dstPort === d.ports.ws), JSON.stringify(wsMsgs));
      assert.ok(wsMsgs.some((p) => p.status === 200 && p.srcPort === d.ports.ws), JSON.stringify(wsMsgs));

      const bytes = fs.readFileSync(file).toString('latin1');
      assert.ok(bytes.includes('response="***"'), 'the masked Authorization is there');
      assert.ok(!bytes.includes(response), 'the digest response never reaches the file');
      assert.ok(await metric(d, 'trace_pcap_written') >= 6);
      assert.equal(await metric(d, 'trace_pcap_dropped'), 0);
    }));

test('trace_pcap in a folder that does not exist stops start-up naming the key', (t) =>
  withScope(t, async (s) => {
    const dir = makeTempDir('sipws-pcap-bad-');
    s.tempDir(dir);
    const [udp, admin] = await freePorts(2);
    const r = await runCli(['run', '--set', `listen=udp:127.0.0.1:${udp}`,
      '--set', `admin_listen=127.0.0.1:${admin}`, '--set', `store=sqlite:${dir}/s.db`,
      '--set', `trace_pcap=${dir}/missing/trace.pcap`]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /config key 'trace_pcap'/);
    assert.match(r.stderr, /missing\/trace\.pcap/);
  }));
