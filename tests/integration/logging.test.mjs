// log_format=json (issue 15): every log line is one JSON object {time, level, msg}; a traced SIP
// message (--trace) stays inside its string with its CR LF and quotes escaped. The ready line
// stays plain text (the daemon's start-up contract).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn } from './lib/fixtures.mjs';
import { SipClient, endpointIn } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

test('log_format=json: one JSON object per log line, traced SIP messages escaped inside', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', extraSets: ['log_format=json'] });
    const ep = await endpointIn(s, 'client');
    const c = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp },
      displayName: 'Quote \\"Me\\"' });
    await c.request('OPTIONS', 'sip:localhost');
    const lines = () => d.stderr().split('\n').filter((l) => l.length > 0);
    await waitFor(() => lines().some((l) => l.includes('OPTIONS sip:localhost')),
      { what: 'the traced OPTIONS in the log' });
    const plain = lines().filter((l) => l.startsWith('sipws '));
    assert.ok(plain.some((l) => l.startsWith('sipws ready: ')), 'the ready line is plain text');
    const logged = lines().filter((l) => !l.startsWith('sipws '));
    assert.ok(logged.length >= 3, d.stderr());
    for (const l of logged) {
      let o;
      assert.doesNotThrow(() => { o = JSON.parse(l); }, `not JSON: ${l}`);
      assert.deepEqual(Object.keys(o), ['time', 'level', 'msg'], l);
      assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
      assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(o.level), l);
    }
    const traced = logged.map((l) => JSON.parse(l).msg).find((m) => m.includes('OPTIONS sip:localhost'));
    assert.match(traced, /\r\n/, 'the SIP message keeps its CR LF inside the string');
    assert.ok(traced.includes('From: "Quote \\"Me\\"" <sip:'),
      `the quotes of the From display name survive: ${traced}`);
  }));
