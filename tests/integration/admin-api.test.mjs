// The admin API (issue 15, docs/admin-api.yaml) on the admin listener: bearer-token auth (401
// without or with a wrong token, 403 when no token is configured), subscribers (list with search
// and paging, create, read, change password, delete; 400 naming the field at fault, 404, 409),
// and the live registrations of a JsSIP user over WS and a raw UDP phone. A subscriber created
// through the API registers with its password at once, an old password stops working as soon as
// it is changed, and a deleted subscriber is challenged without end. The last test runs every
// operation of docs/admin-api.yaml (OpenAPI 3.1) with its examples and checks each answer
// against the description: status documented, JSON body of the documented schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { adminApi, kAdminToken } from './lib/admin.mjs';
import { makeTempDir } from './lib/daemon.mjs';
import { daemonIn, uaIn } from './lib/fixtures.mjs';
import { SipClient, buildResponse, endpointIn } from './lib/rawsip.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent, waitFor, withTimeout } from './lib/wait.mjs';

const kToken = kAdminToken;
const api = adminApi;

/** Registers sip:USER@localhost from a raw UDP endpoint; resolves with the final status. */
async function udpRegister(s, d, user, password, name) {
  const ep = await endpointIn(s, name);
  const c = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp }, user, password });
  return { ep, status: (await c.register()).final.status };
}

test('admin API: token, subscribers, registrations', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: [`admin_token=${kToken}`] });
    await d.addUser('alice@localhost', 'secret');

    // Auth: no token, a wrong one, another scheme: 401 with a Bearer challenge; /health open.
    let r401Connection;
    for (const token of [null, 'wrong-token-wrong-token', `${kToken}x`]) {
      const r = await api(d, 'GET', '/api/v1/subscribers', { token });
      assert.equal(r.status, 401, `token ${token}`);
      r401Connection = r.headers.get('connection');
      assert.match(r.headers.get('www-authenticate'), /^Bearer /);
      assert.ok(r.json.error);
    }
    const basic = await fetch(`http://127.0.0.1:${d.ports.admin}/api/v1/subscribers`,
      { headers: { Authorization: `Basic ${Buffer.from(`a:${kToken}`).toString('base64')}` } });
    assert.equal(basic.status, 401);
    const health = await fetch(`http://127.0.0.1:${d.ports.admin}/health`);
    assert.equal(health.status, 200);
    // The listener closes after each response, and says so: a client must not reuse the
    // connection (a reused one races the close).
    assert.equal(health.headers.get('connection'), 'close');
    assert.equal(r401Connection, 'close');

    // Create: 201 with the subscriber (never its HA1), then it is listed.
    const created = await api(d, 'POST', '/api/v1/subscribers',
      { body: { aor: 'dave@localhost', password: 'dave-pw-1' } });
    assert.equal(created.status, 201, created.text);
    assert.deepEqual(created.json, { aor: 'dave@localhost', user: 'dave', domain: 'localhost' });
    assert.equal(created.headers.get('location'), '/api/v1/subscribers/dave@localhost');
    const dup = await api(d, 'POST', '/api/v1/subscribers',
      { body: { aor: 'dave@LOCALHOST', password: 'x' } });
    assert.equal(dup.status, 409, 'the same subscriber (the domain is case-insensitive) exists');
    const list = await api(d, 'GET', '/api/v1/subscribers');
    assert.equal(list.status, 200);
    assert.deepEqual(list.json.map((x) => x.aor), ['alice@localhost', 'dave@localhost']);
    assert.equal(list.headers.get('x-total-count'), '2');
    assert.ok(!/ha1|[0-9a-f]{32}/i.test(list.text), 'no credentials are listed');
    const page = await api(d, 'GET', '/api/v1/subscribers?search=DAV&limit=1&offset=0');
    assert.deepEqual(page.json.map((x) => x.aor), ['dave@localhost']);
    assert.equal(page.headers.get('x-total-count'), '1');
    assert.deepEqual((await api(d, 'GET', '/api/v1/subscribers?offset=5')).json, []);
    assert.equal((await api(d, 'GET', '/api/v1/subscribers/dave%40localhost')).json.aor,
      'dave@localhost');

    // Bad input: 400 naming the field.
    const bad = [
      [{ rawBody: '{"aor": ' }, 'body'],
      [{ rawBody: '[1]' }, 'body'],
      [{ body: { password: 'x' } }, 'aor'],
      [{ body: { aor: 'no-at-sign', password: 'x' } }, 'aor'],
      [{ body: { aor: 'sip:e@localhost', password: 'x' } }, 'aor'],
      [{ body: { aor: 'e@localhost' } }, 'password'],
      [{ body: { aor: 'e@localhost', password: '' } }, 'password'],
      [{ body: { aor: 'e@localhost', password: 7 } }, 'password'],
      [{ body: { aor: 'e@localhost', password: 'a\r\nb' } }, 'password'],
      [{ body: { aor: 'e@localhost', password: 'p'.repeat(257) } }, 'password'],
      [{ body: { aor: 'e@localhost', password: 'x', ha1: '00' } }, 'ha1'],
    ];
    for (const [opts, field] of bad) {
      const r = await api(d, 'POST', '/api/v1/subscribers', opts);
      assert.equal(r.status, 400, JSON.stringify(opts));
      assert.equal(r.json.field, field, `${JSON.stringify(opts)}: ${r.text}`);
      assert.ok(r.json.error.length > 0);
    }
    for (const [path, field] of [['/api/v1/subscribers?limit=0', 'limit'],
      ['/api/v1/subscribers?limit=1001', 'limit'], ['/api/v1/subscribers?offset=-1', 'offset'],
      ['/api/v1/subscribers?sort=aor', 'sort'], ['/api/v1/subscribers?search=%zz', 'query'],
      ['/api/v1/registrations?aor=nobody', 'aor']]) {
      const r = await api(d, 'GET', path);
      assert.equal(r.status, 400, path);
      assert.equal(r.json.field, field, `${path}: ${r.text}`);
    }
    assert.equal((await api(d, 'GET', '/api/v1/nothing')).status, 404);
    assert.equal((await api(d, 'GET', '/api/v1/subscribers/eve@localhost')).status, 404);
    const patch = await api(d, 'PATCH', '/api/v1/subscribers', { body: {} });
    assert.equal(patch.status, 405);
    assert.equal(patch.headers.get('allow'), 'GET, POST');
    assert.equal((await api(d, 'POST', '/api/v1/registrations', { body: {} })).status, 405);

    // dave registers over UDP with the password given to the API; a new password replaces it
    // at once (the credential cache is invalidated).
    assert.equal((await udpRegister(s, d, 'dave', 'dave-pw-1', 'dave 1')).status, 200);
    const changed = await api(d, 'PUT', '/api/v1/subscribers/dave@localhost',
      { body: { password: 'dave-pw-2' } });
    assert.equal(changed.status, 200, changed.text);
    assert.equal((await udpRegister(s, d, 'dave', 'dave-pw-1', 'dave old pw')).status, 401);
    assert.equal((await udpRegister(s, d, 'dave', 'dave-pw-2', 'dave new pw')).status, 200);
    assert.equal((await api(d, 'PUT', '/api/v1/subscribers/eve@localhost',
      { body: { password: 'x' } })).status, 404);
    assert.equal((await api(d, 'PUT', '/api/v1/subscribers/dave@localhost',
      { body: { password: 'x', aor: 'y' } })).json.field, 'aor');

    // alice registers over WS with JsSIP: both bindings are live registrations.
    const ua = uaIn(s, { proto: 'ws', port: d.ports.ws, user: 'alice', password: 'secret' });
    const registered = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
    ua.start();
    await registered;
    const regs = await api(d, 'GET', '/api/v1/registrations');
    assert.equal(regs.status, 200);
    const alice = regs.json.find((r) => r.aor === 'alice@localhost');
    assert.ok(alice, regs.text);
    assert.equal(alice.transport, 'ws');
    assert.match(alice.contact, /^sip:[^@]+@[^;]+\.invalid;transport=ws/);
    assert.ok(alice.expires > 250 && alice.expires <= 300, `expires ${alice.expires}`);
    assert.equal(typeof alice.flow, 'number');
    assert.equal(alice.user_agent, 'sipws-integration-jssip');
    assert.equal(alice.reachable, true);
    const dave = regs.json.filter((r) => r.aor === 'dave@localhost');
    assert.ok(dave.length >= 1);
    assert.equal(dave[0].transport, 'udp');
    assert.equal(dave[0].flow, null);
    const only = await api(d, 'GET', '/api/v1/registrations?aor=alice@LOCALHOST');
    assert.deepEqual(only.json.map((r) => r.aor), ['alice@localhost']);

    // Open flows: alice's WebSocket is one, with its age and idle time; closing it closes
    // her WebSocket and takes her binding with it.
    const flows = await api(d, 'GET', '/api/v1/flows');
    assert.equal(flows.status, 200);
    const wsFlow = flows.json.find((f) => f.id === alice.flow);
    assert.ok(wsFlow, `alice's flow ${alice.flow} in ${flows.text}`);
    assert.equal(wsFlow.transport, 'ws');
    assert.match(wsFlow.peer, /^127\.0\.0\.1:\d+$/);
    assert.equal(wsFlow.local, `127.0.0.1:${d.ports.ws}`);
    assert.ok(Number.isInteger(wsFlow.age) && wsFlow.age >= 0 && wsFlow.age < 60);
    assert.ok(Number.isInteger(wsFlow.idle) && wsFlow.idle >= 0 && wsFlow.idle <= wsFlow.age);
    const disconnected = waitEvent(ua, 'disconnected');
    assert.equal((await api(d, 'DELETE', `/api/v1/flows/${alice.flow}`)).status, 204);
    await disconnected;
    const after = await api(d, 'GET', '/api/v1/registrations?aor=alice@localhost');
    assert.ok(!after.json.some((r) => r.flow === alice.flow), `the binding went with the flow: ${after.text}`);
    assert.equal((await api(d, 'DELETE', `/api/v1/flows/${alice.flow}`)).status, 404);
    for (const bad of ['0', 'abc', '-1', '1.5']) {
      const r = await api(d, 'DELETE', `/api/v1/flows/${bad}`);
      assert.equal(r.status, 400, bad);
      assert.equal(r.json.field, 'id');
    }
    assert.equal((await api(d, 'GET', '/api/v1/flows/1')).status, 405);

    // Groups, forwarding rules and aliases of a subscriber.
    const sub = '/api/v1/subscribers/alice@localhost';
    assert.deepEqual((await api(d, 'GET', `${sub}/groups`)).json, []);
    assert.equal((await api(d, 'PUT', `${sub}/groups/ld`)).status, 204);
    assert.equal((await api(d, 'PUT', `${sub}/groups/local`)).status, 204);
    assert.deepEqual((await api(d, 'GET', `${sub}/groups`)).json, ['ld', 'local']);
    assert.equal((await api(d, 'DELETE', `${sub}/groups/ld`)).status, 204);
    assert.equal((await api(d, 'DELETE', `${sub}/groups/ld`)).status, 404);
    assert.equal((await api(d, 'PUT', `${sub}/groups/a%20b`)).json.field, 'group');
    assert.equal((await api(d, 'PUT', '/api/v1/subscribers/eve@localhost/groups/ld')).status, 404);
    assert.equal((await api(d, 'GET', `${sub}/calls`)).status, 404);
    const fwd = await api(d, 'PUT', `${sub}/forwards/no_answer`,
      { body: { target: 'voicemail', ring_timeout: 15 } });
    assert.equal(fwd.status, 200, fwd.text);
    assert.deepEqual(fwd.json, { kind: 'no_answer', target: 'voicemail', ring_timeout: 15 });
    assert.deepEqual((await api(d, 'GET', `${sub}/forwards`)).json, [fwd.json]);
    for (const [kind, body, field] of [['sometimes', { target: 'voicemail' }, 'kind'],
      ['busy', { target: 'mailto:x@y' }, 'target'], ['busy', {}, 'target'],
      ['busy', { target: 'voicemail', ring_timeout: 5 }, 'ring_timeout'],
      ['no_answer', { target: 'voicemail', ring_timeout: 601 }, 'ring_timeout'],
      ['busy', { target: 'voicemail', when: 'now' }, 'when']]) {
      const r = await api(d, 'PUT', `${sub}/forwards/${kind}`, { body });
      assert.equal(r.status, 400, `${kind} ${JSON.stringify(body)}`);
      assert.equal(r.json.field, field, `${kind} ${JSON.stringify(body)}: ${r.text}`);
    }
    assert.equal((await api(d, 'DELETE', `${sub}/forwards/no_answer`)).status, 204);
    assert.deepEqual((await api(d, 'GET', `${sub}/forwards`)).json, []);
    // An alias set through the API routes at once: a MESSAGE to 100 reaches alice's binding.
    const aliasSet = await api(d, 'PUT', '/api/v1/aliases/+1%20(555)%20100',
      { body: { aor: 'alice@localhost' } });
    assert.equal(aliasSet.status, 200, aliasSet.text);
    assert.deepEqual(aliasSet.json, { alias: '+1555100', aor: 'alice@localhost' });
    assert.deepEqual((await api(d, 'GET', '/api/v1/aliases')).json, [aliasSet.json]);
    assert.equal((await api(d, 'PUT', '/api/v1/aliases/a@b', { body: { aor: 'alice@localhost' } }))
      .json.field, 'alias');
    assert.equal((await api(d, 'PUT', '/api/v1/aliases/100', { body: { aor: 'x' } })).json.field,
      'aor');
    const aliceEp = await endpointIn(s, 'alice over UDP');
    aliceEp.onRequest = (msg, rinfo) => {
      if (msg.method === 'MESSAGE') aliceEp.send(buildResponse(msg, 200, 'OK'), rinfo.port);
    };
    const aliceUdp = new SipClient(aliceEp, { server: { host: '127.0.0.1', port: d.ports.udp },
      user: 'alice', password: 'secret' });
    assert.equal((await aliceUdp.register()).final.status, 200);
    const msg = await aliceUdp.request('MESSAGE', 'sip:+1555100@localhost',
      { body: 'hi', contentType: 'text/plain' });
    assert.equal(msg.final.status, 200, 'the alias reached alice');
    assert.ok(aliceEp.received.some((e) => e.msg.method === 'MESSAGE'));
    assert.equal((await api(d, 'DELETE', '/api/v1/aliases/+1555100')).status, 204);
    assert.equal((await api(d, 'DELETE', '/api/v1/aliases/+1555100')).status, 404);
    assert.equal((await aliceUdp.request('MESSAGE', 'sip:+1555100@localhost',
      { body: 'hi', contentType: 'text/plain' })).final.status, 404, 'the alias is gone');

    // Delete: 204, then 404, and dave can no longer register.
    assert.equal((await api(d, 'DELETE', '/api/v1/subscribers/dave@localhost')).status, 204);
    assert.equal((await api(d, 'DELETE', '/api/v1/subscribers/dave@localhost')).status, 404);
    assert.equal((await udpRegister(s, d, 'dave', 'dave-pw-2', 'dave deleted')).status, 401);

    // The log level at run time: at warn, the traced messages (info) are not logged.
    // (Per-module levels: logging.test.mjs.)
    assert.equal((await api(d, 'GET', '/api/v1/log')).json.level, 'debug');
    for (const body of [{ level: 'loud' }, { level: 3 }, {}, { level: 'info', x: 1 }]) {
      const bad = await api(d, 'PUT', '/api/v1/log', { body });
      assert.equal(bad.status, 400, JSON.stringify(body));
    }
    const warn = await api(d, 'PUT', '/api/v1/log', { body: { level: 'warn' } });
    assert.equal(warn.status, 200, warn.text);
    assert.equal(warn.json.level, 'warn');
    assert.equal(warn.json.modules.messages, 'warn');
    await d.waitStderr(/admin api: log levels from now on: {"level":"warn"}/);
    assert.equal((await udpRegister(s, d, 'alice', 'secret', 'alice at warn')).status, 200);
    assert.equal((await api(d, 'PUT', '/api/v1/log', { body: { level: 'debug' } })).json.level,
      'debug');
    // Lines are written in order.
    await d.waitStderr(/admin api: log levels from now on: {"level":"debug"}/);
    const log = d.stderr();
    const between = log.slice(log.lastIndexOf('log levels from now on: {"level":"warn"}'),
      log.lastIndexOf('log levels from now on: {"level":"debug"}'));
    assert.doesNotMatch(between, /RECV UDP/, 'a traced message was logged at warn');
    assert.equal((await udpRegister(s, d, 'alice', 'secret', 'alice at debug')).status, 200);
    await d.waitStderr(/from now on: {"level":"debug"}[\s\S]*RECV UDP/, 'traced again at debug');
  }));

test('admin API without admin_token: 403 for the API, /metrics and /health still served', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, {});
    for (const token of [null, kToken]) {
      const r = await api(d, 'GET', '/api/v1/subscribers', { token });
      assert.equal(r.status, 403);
      assert.match(r.json.error, /admin_token/);
    }
    assert.equal((await fetch(`http://127.0.0.1:${d.ports.admin}/metrics`)).status, 200);
  }));

const specFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs',
  'admin-api.yaml');

/** Follows a local $ref ("#/components/...") of `spec`. */
function deref(spec, node) {
  let n = node;
  while (n && n.$ref) {
    n = n.$ref.slice(2).split('/').reduce((o, k) => o[k], spec);
  }
  return n;
}

/** The type name of a JSON value as JSON Schema has it. */
function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (Number.isInteger(v)) return 'integer';
  return typeof v;
}

/** Problems of `value` against `schema` (types, required, properties, items, enum). */
function schemaProblems(spec, schema, value, where, out = []) {
  const sc = deref(spec, schema);
  if (!sc) return out;
  if (sc.type) {
    const types = [sc.type].flat();
    const t = typeOf(value);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) {
      out.push(`${where}: ${JSON.stringify(value)} is ${t}, not ${types.join('|')}`);
      return out;
    }
  }
  if (sc.enum && !sc.enum.includes(value)) out.push(`${where}: ${value} not in ${sc.enum}`);
  if (typeOf(value) === 'object') {
    for (const r of sc.required || []) {
      if (!(r in value)) out.push(`${where}: no ${r}`);
    }
    for (const [k, v] of Object.entries(value)) {
      if (sc.properties && sc.properties[k]) {
        schemaProblems(spec, sc.properties[k], v, `${where}.${k}`, out);
      } else if (sc.properties && sc.additionalProperties === false) {
        out.push(`${where}: ${k} is not described`);
      }
    }
  }
  if (typeOf(value) === 'array' && sc.items) {
    value.forEach((v, i) => schemaProblems(spec, sc.items, v, `${where}[${i}]`, out));
  }
  return out;
}

test('docs/admin-api.yaml describes the running server: every operation, with its examples',
  (t) => withScope(t, async (s) => {
    const spec = YAML.parse(fs.readFileSync(specFile, 'utf8'));
    const gateways = [{ name: 'GW1', uri: 'sip:127.0.0.2:5999', dtmf: 'info', password: 'gw-pw',
      auth_user: 'gw' }, { name: 'GW2', uri: 'sip:127.0.0.3', enabled: false }];
    const routes = [{ match: '^9[0-9]+$', gateways: ['GW1', 'GW2'] },
      { match: '^1', from: 'alice', gateways: ['GW2'], failover_on: [503] }];
    const trusted = [{ name: 'pbx', source: '10.0.0.0/8', transport: 'udp', relay: true }];
    const d = await daemonIn(s, { extraSets: [`admin_token=${kToken}`,
      `gateways=${JSON.stringify(gateways)}`, `routes=${JSON.stringify(routes)}`,
      `trusted_peers=${JSON.stringify(trusted)}`,
      'auth_max_failures=2', 'auth_max_user_failures=2'] });
    await d.addUser('alice@localhost', 'secret');
    // A binding whose contact is the example of DELETE /api/v1/registrations.
    const ep = await endpointIn(s, 'alice');
    const alice = new SipClient(ep, { server: { host: '127.0.0.1', port: d.ports.udp },
      user: 'alice', password: 'secret' });
    const reg = await alice.request('REGISTER', 'sip:localhost', { to: 'sip:alice@localhost',
      headers: ['Expires: 300'], contact: '<sip:openapi-check@127.0.0.1:5999>' });
    assert.equal(reg.final.status, 200);
    // Two wrong passwords for mallory from 127.0.0.1: the IP and user bans that the DELETEs
    // of /api/v1/bans lift (no SIP is sent after this).
    for (let i = 0; i < 2; i++) await udpRegister(s, d, 'mallory', 'wrong', `mallory ${i}`);
    // A TCP connection: the flow that DELETE /api/v1/flows/{id} closes.
    const tcp = net.connect(d.ports.tcp, '127.0.0.1');
    s.defer(() => tcp.destroy());
    tcp.on('error', () => {});
    const tcpClosed = new Promise((resolve) => tcp.on('close', resolve));
    const live = await waitFor(async () => (await api(d, 'GET', '/api/v1/flows')).json
      .find((f) => f.transport === 'tcp'), { what: 'the TCP flow in the list' });
    let operations = 0;
    for (const [template, item] of Object.entries(spec.paths)) {
      for (const method of ['get', 'post', 'put', 'delete']) {
        const op = item[method];
        if (!op) continue;
        operations++;
        const params = [...(item.parameters || []), ...(op.parameters || [])].map((p) => deref(spec, p));
        let url = template;
        const query = new URLSearchParams();
        for (const p of params) {
          const example = p['x-live-example'] ? live.id : p.example;
          if (p.in === 'path') url = url.replace(`{${p.name}}`, encodeURIComponent(example));
          if (p.in === 'query') query.set(p.name, String(p.example));
        }
        if ([...query].length) url += `?${query}`;
        const body = op.requestBody?.content['application/json'].example;
        const what = `${method.toUpperCase()} ${url}`;
        const r = await api(d, method.toUpperCase(), url, { body });
        if (op['x-check-status']) {
          // An operation on a live object the check has none of (a call): its documented error.
          assert.equal(r.status, op['x-check-status'], `${what}: ${r.status} ${r.text}`);
        } else {
          assert.ok(r.status >= 200 && r.status < 300, `${what}: ${r.status} ${r.text}`);
        }
        const doc = deref(spec, op.responses[String(r.status)]);
        assert.ok(doc, `${what}: status ${r.status} is not documented`);
        const schema = doc.content?.['application/json']?.schema;
        if (schema) {
          const problems = schemaProblems(spec, schema, r.json, what);
          assert.deepEqual(problems, [], r.text);
        } else {
          assert.equal(r.text, '', `${what}: a body the description does not have`);
        }
        for (const h of Object.keys(doc.headers || {})) {
          assert.ok(r.headers.get(h) !== null, `${what}: no ${h} header`);
        }
        // Without the token: the documented 401.
        const anon = await api(d, method.toUpperCase(), url, { body, token: null });
        assert.equal(anon.status, 401, what);
        assert.ok(op.responses['401'], `${what}: 401 is not documented`);
        assert.deepEqual(schemaProblems(spec, deref(spec, op.responses['401']).content[
          'application/json'].schema, anon.json, `${what} (401)`), []);
      }
    }
    assert.equal(operations, 31);
    await withTimeout(tcpClosed, 5000, 'the TCP connection closed by DELETE /api/v1/flows/{id}');
    // The example binding was expired by the DELETE.
    assert.deepEqual((await api(d, 'GET', '/api/v1/registrations')).json, []);
    // The dial plan as configured, with each gateway's state and never its password.
    const gws = await api(d, 'GET', '/api/v1/gateways');
    assert.deepEqual(gws.json.map((g) => [g.name, g.enabled, g.up, g.dtmf]),
      [['GW1', true, true, 'info'], ['GW2', false, false, 'rfc4733']]);
    assert.ok(!gws.text.includes('gw-pw'), 'no password shown');
    assert.deepEqual((await api(d, 'GET', '/api/v1/trusted_peers')).json, trusted);
    const rts = await api(d, 'GET', '/api/v1/routes');
    assert.deepEqual(rts.json, [
      { match: '^9[0-9]+$', from: null, gateways: ['GW1', 'GW2'], failover_on: [408, 503] },
      { match: '^1', from: 'alice', gateways: ['GW2'], failover_on: [503] }]);
    // Expiring a binding: both parameters needed; an unknown one is 404.
    for (const [q, field] of [['contact=sip:x@y', 'aor'], ['aor=alice@localhost', 'contact'],
      ['aor=alice@localhost&contact=x&q=1', 'q']]) {
      const r = await api(d, 'DELETE', `/api/v1/registrations?${q}`);
      assert.equal(r.status, 400, q);
      assert.equal(r.json.field, field, q);
    }
    assert.equal((await api(d, 'DELETE',
      '/api/v1/registrations?aor=alice@localhost&contact=sip:nobody@127.0.0.1')).status, 404);
    assert.equal((await api(d, 'GET', '/api/v1/gateways?x=1')).status, 400);
  }));

test('admin API: brute-force bans are listed and lifted', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { extraSets: [`admin_token=${kToken}`,
      'auth_max_user_failures=3', 'auth_max_failures=100'] });
    await d.addUser('dave@localhost', 'dave-pw');
    assert.deepEqual((await api(d, 'GET', '/api/v1/bans')).json, []);
    // Three wrong passwords ban the user; then even the right one is refused.
    for (let i = 0; i < 3; i++) {
      assert.notEqual((await udpRegister(s, d, 'dave', `wrong-${i}`, `guess ${i}`)).status, 200);
    }
    assert.equal((await udpRegister(s, d, 'dave', 'dave-pw', 'dave banned')).status, 403);
    const bans = await api(d, 'GET', '/api/v1/bans');
    assert.equal(bans.status, 200);
    assert.equal(bans.json.length, 1, bans.text);
    assert.equal(bans.json[0].kind, 'user');
    assert.equal(bans.json[0].what, 'dave@localhost');
    assert.ok(bans.json[0].expires > 500 && bans.json[0].expires <= 600, bans.text);
    // Lifted: dave registers again.
    assert.equal((await api(d, 'DELETE', '/api/v1/bans/user/dave@localhost')).status, 204);
    assert.deepEqual((await api(d, 'GET', '/api/v1/bans')).json, []);
    assert.equal((await udpRegister(s, d, 'dave', 'dave-pw', 'dave lifted')).status, 200);
    assert.equal((await api(d, 'DELETE', '/api/v1/bans/user/dave@localhost')).status, 404);
    assert.equal((await api(d, 'DELETE', '/api/v1/bans/ip/192.0.2.1')).status, 404);
    assert.equal((await api(d, 'DELETE', '/api/v1/bans/ip/not-an-ip')).json.field, 'address');
    assert.equal((await api(d, 'DELETE', '/api/v1/bans/user/nobody')).json.field, 'aor');
    assert.equal((await api(d, 'DELETE', '/api/v1/bans/host/x')).status, 404);
    assert.equal((await api(d, 'POST', '/api/v1/bans', { body: {} })).status, 405);
  }));

test('admin API: POST /api/v1/reload applies the file as SIGHUP does, and refuses a bad one',
  (t) => withScope(t, async (s) => {
    const dir = makeTempDir();
    const file = path.join(dir, 'sipws.json');
    const write = (gateways, extra = {}) => fs.writeFileSync(file, JSON.stringify({
      gateways, routes: [{ match: '^9', gateways: gateways.map((g) => g.name) }], ...extra }));
    write([{ name: 'GW1', uri: 'sip:127.0.0.2' }]);
    const d = await daemonIn(s, { dir, configFile: file, extraSets: [`admin_token=${kToken}`] });
    const names = async () => (await api(d, 'GET', '/api/v1/gateways')).json.map((g) => g.name);
    assert.deepEqual(await names(), ['GW1']);

    write([{ name: 'GW1', uri: 'sip:127.0.0.2' }, { name: 'GW2', uri: 'sip:127.0.0.3' }],
      { user_agent: 'sipws-reloaded' });
    const ok = await api(d, 'POST', '/api/v1/reload');
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json, { reloaded: true, restart_needed: ['user_agent'] });
    assert.deepEqual(await names(), ['GW1', 'GW2']);
    assert.match(d.stderr(), /admin API: configuration reloaded/);

    // A file that does not load: 409 naming the key, the configuration in force stays.
    write([{ name: 'GW3', uri: 'sip:127.0.0.4', dtmf: 'inband' }]);
    const bad = await api(d, 'POST', '/api/v1/reload');
    assert.equal(bad.status, 409);
    assert.match(bad.json.error, /gateways\[0\]\.dtmf/);
    assert.deepEqual(await names(), ['GW1', 'GW2']);
    assert.equal((await api(d, 'GET', '/api/v1/reload')).status, 405);
    assert.equal((await api(d, 'POST', '/api/v1/reload', { token: null })).status, 401);
  }));
