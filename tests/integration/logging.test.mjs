// log_format=json (issue 15): every log line is one JSON object {time, level, module, msg}; a
// traced SIP message (--trace) stays inside its string with its CR LF and quotes escaped. The
// ready line stays plain text (the daemon's start-up contract). Per-module levels: log_levels at
// start-up, PUT /api/v1/log at run time.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adminApi, kAdminToken } from './lib/admin.mjs';
import { daemonIn } from './lib/fixtures.mjs';
import { SipClient, endpointIn } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

/** The modules of log_levels (docs/configuration.md). */
const kModules = ['admin', 'app', 'auth', 'bridge', 'messages', 'proxy', 'registrar', 'routing',
  'store', 'transport', 'ws'];

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
      assert.deepEqual(Object.keys(o), ['time', 'level', 'module', 'msg'], l);
      assert.match(o.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}$/);
      assert.ok(['trace', 'debug', 'info', 'warning', 'error', 'critical'].includes(o.level), l);
      assert.ok(kModules.includes(o.module) || o.module === 'sipws', l);
    }
    const tracedLine = logged.map((l) => JSON.parse(l)).find((o) => o.msg.includes('OPTIONS sip:localhost'));
    assert.equal(tracedLine.module, 'messages');
    const traced = tracedLine.msg;
    assert.match(traced, /\r\n/, 'the SIP message keeps its CR LF inside the string');
    assert.ok(traced.includes('From: "Quote \\"Me\\"" <sip:'),
      `the quotes of the From display name survive: ${traced}`);
  }));

test('log_levels: a module above log_level at start-up; PUT /api/v1/log changes one module at run time', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { auth: 'off', extraSets: [
      'log_level=warn', 'log_levels={"messages":"info"}', `admin_token=${kAdminToken}`] });
    const ep = await endpointIn(s, 'client');
    const c = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp } });
    const api = (method, body) => adminApi(d, method, '/api/v1/log', { body });

    const get = await api('GET');
    assert.equal(get.status, 200);
    assert.equal(get.json.level, 'warn');
    assert.deepEqual(Object.keys(get.json.modules), kModules);
    for (const m of kModules) assert.equal(get.json.modules[m], m === 'messages' ? 'info' : 'warn', m);

    // The messages module traces at info while the others stay at warn.
    await c.request('OPTIONS', 'sip:localhost');
    await d.waitStderr(/info \[messages\] RECV UDP[^\n]*\nOPTIONS sip:localhost/);
    assert.doesNotMatch(d.stderr(), / (info|debug) \[(app|transport|ws|proxy)\] /,
      'only the messages module logs below warn');

    // Bad bodies: 400 naming the field.
    for (const [body, field] of [[{}, 'level'], [{ level: 'loud' }, 'level'], [{ level: 3 }, 'level'],
      [{ modules: { nosuch: 'info' } }, 'modules.nosuch'], [{ modules: { proxy: 'loud' } }, 'modules.proxy'],
      [{ modules: 'proxy' }, 'modules'], [{ level: 'info', x: 1 }, 'x']]) {
      const bad = await api('PUT', body);
      assert.equal(bad.status, 400, JSON.stringify(body));
      assert.equal(bad.json.field, field, JSON.stringify(bad.json));
    }
    assert.deepEqual((await api('GET')).json, get.json, 'a refused PUT changes nothing');

    // One module: messages to warn, registrar to debug; the others keep their level.
    const put = await api('PUT', { modules: { messages: 'warn', registrar: 'debug' } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.level, 'warn');
    assert.equal(put.json.modules.messages, 'warn');
    assert.equal(put.json.modules.registrar, 'debug');
    assert.equal(put.json.modules.proxy, 'warn');
    await d.waitStderr(/admin api: log levels from now on/);
    const mark = d.stderr().length;
    await c.request('OPTIONS', 'sip:localhost;x=after');
    // The whole level: every module, and the line that records it is written in order.
    const all = await api('PUT', { level: 'info' });
    assert.equal(all.json.level, 'info');
    for (const m of kModules) assert.equal(all.json.modules[m], 'info', m);
    await d.waitStderr(/admin api: log levels from now on: {"level":"info"}/);
    assert.doesNotMatch(d.stderr().slice(mark), /OPTIONS sip:localhost;x=after/,
      'a traced message was logged with the messages module at warn');
    await c.request('OPTIONS', 'sip:localhost;x=again');
    await d.waitStderr(/\[messages\] RECV UDP[^\n]*\nOPTIONS sip:localhost;x=again/);
  }));

test('log_levels from the config file are set again by a reload', (t) =>
  withScope(t, async (s) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sipws-log-'));
    s.tempDir(dir);
    const file = path.join(dir, 'sipws.json');
    fs.writeFileSync(file, JSON.stringify({ log_levels: { messages: 'warn' } }));
    const d = await daemonIn(s, { auth: 'off', configFile: file, extraSets: [`admin_token=${kAdminToken}`] });
    const get = async () => (await adminApi(d, 'GET', '/api/v1/log')).json;
    assert.equal((await get()).modules.messages, 'warn');
    assert.equal((await get()).modules.proxy, 'debug', 'log_level of --set');

    fs.writeFileSync(file, JSON.stringify({ log_levels: { messages: 'info', store: 'error' } }));
    const r = await adminApi(d, 'POST', '/api/v1/reload');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.restart_needed, []);
    const after = await get();
    assert.equal(after.modules.messages, 'info');
    assert.equal(after.modules.store, 'error');
    assert.equal(after.modules.proxy, 'debug');

    const ep = await endpointIn(s, 'client');
    const c = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp } });
    await c.request('OPTIONS', 'sip:localhost;x=reloaded');
    await d.waitStderr(/\[messages\] RECV UDP[^\n]*\nOPTIONS sip:localhost;x=reloaded/);
  }));
