// A wildcard listener on a host with two networks (issue 14, "addresses that work on real
// networks"): sipws runs in the test's namespace with an inside address 10.200.0.1 and an
// outside one 10.201.0.1, each on a veth pair to a namespace of its own where a SIPp phone
// lives (10.200.0.9 inside, 10.201.0.9 outside). sipws listens on udp:0.0.0.0. The inside
// phone registers; the outside phone calls it through sipws, and the call completes both ways
// (ACK and BYE along the recorded route). What each phone was sent names only the address of
// sipws on its own side, never 0.0.0.0 and never the other side's; with `advertise`, the name.
// Media is anchored on every interface: each phone's SDP names sipws's address on its side.
// With the outside phone behind topology hiding, the Contact it sees is sipws's too.
// Runs in the netns stage (scripts/test.sh: `unshare -n`): the namespaces it makes are removed
// after each test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from '../integration/lib/daemon.mjs';
import { daemonIn, sippIn } from '../integration/lib/fixtures.mjs';
import { freePorts } from '../integration/lib/ports.mjs';
import { withScope } from '../integration/lib/scope.mjs';
import { scenarioDir } from '../integration/lib/sipp.mjs';

const kInside = { own: '10.200.0.1', phone: '10.200.0.9' };
const kOutside = { own: '10.201.0.1', phone: '10.201.0.9' };

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const canMakeNamespaces = (() => {
  try {
    ip('netns', 'add', `sipws-probe-${process.pid}`);
    ip('netns', 'del', `sipws-probe-${process.pid}`);
    return true;
  } catch {
    return false;
  }
})();
const skip = canMakeNamespaces ? false : 'cannot create network namespaces here (ip netns add)';

/**
 * A namespace `name` joined to this one by a veth pair: `side.own`/24 here, `side.phone`/24
 * there. Removed (with its veth) when the test ends.
 */
function sideNamespace(s, name, side, tag) {
  const here = `sw${tag}${process.pid % 10000}`;
  ip('netns', 'add', name);
  s.defer(() => ip('netns', 'del', name));
  ip('link', 'add', here, 'type', 'veth', 'peer', 'name', 'phone0', 'netns', name);
  ip('addr', 'add', `${side.own}/24`, 'dev', here);
  ip('link', 'set', here, 'up');
  ip('-n', name, 'addr', 'add', `${side.phone}/24`, 'dev', 'phone0');
  ip('-n', name, 'link', 'set', 'phone0', 'up');
  ip('-n', name, 'link', 'set', 'lo', 'up');
}

/** register_noauth.xml expecting its contact at `host` in the 200. */
function registerScenario(s, host) {
  const text = fs.readFileSync(path.join(scenarioDir, 'register_noauth.xml'), 'utf8');
  const dir = makeTempDir('sipws-scn-');
  s.tempDir(dir);
  const file = path.join(dir, 'register_at.xml');
  fs.writeFileSync(file, text.replace('@127\\.0\\.0\\.1:', `@${host.replaceAll('.', '\\.')}:`));
  return file;
}

/**
 * Every Via, Record-Route, Route and Contact line, and every SDP c= and o= line, of the
 * messages SIPp `h` received.
 */
function addressLines(h) {
  const lines = [];
  for (const f of fs.readdirSync(h.dir).filter((n) => n.endsWith('_messages.log'))) {
    let received = false;
    for (const line of fs.readFileSync(path.join(h.dir, f), 'utf8').split(/\r?\n/)) {
      if (/^\w+ message received/.test(line)) received = true;
      else if (/^\w+ message sent/.test(line)) received = false;
      else if (received && /^((Via|Record-Route|Route|Contact|v|m):|[co]=)/i.test(line)) {
        lines.push(line);
      }
    }
  }
  return lines;
}

/**
 * The outside phone calls the inside one through a two-homed sipws on udp:0.0.0.0 (with
 * `advertise` if given). Media is anchored (`media_anchor=always`, no media_address: the bridge
 * listens on every interface), so each phone's SDP must name sipws's address on its side.
 * `hidden`: the outside phone is a gateway with `topology_hiding`, so the Contact it sees is
 * sipws's too.
 */
async function callAcross(t, s, { advertise = '', hidden = false } = {}) {
  const tag = (advertise ? 'a' : 'p') + (hidden ? 'h' : '');
  const inside = `sipws-in-${tag}${process.pid}`;
  const outside = `sipws-out-${tag}${process.pid}`;
  sideNamespace(s, inside, kInside, `i${tag}`);
  sideNamespace(s, outside, kOutside, `o${tag}`);
  const [udp, tcp, ws, wss, admin] = await freePorts(5);
  const [phonePort] = await freePorts(1);
  const adv = advertise ? ` advertise ${advertise}` : '';
  const gateways = [{ name: 'OUT', uri: `sip:${kOutside.phone}:${phonePort}`,
    topology_hiding: true }];
  const d = await daemonIn(s, {
    auth: 'off',
    ports: { udp, tcp, ws, wss, admin },
    extraSets: [`listen=udp:0.0.0.0:${udp}${adv},tcp:127.0.0.1:${tcp},ws:127.0.0.1:${ws},` +
      `wss:127.0.0.1:${wss}`, 'media_anchor=always',
    ...(hidden ? [`gateways=${JSON.stringify(gateways)}`] : [])],
  });
  const reg = await sippIn(s, 'register alice (inside)', {
    scenario: registerScenario(s, kInside.phone),
    host: kInside.phone,
    port: phonePort,
    remote: `${kInside.own}:${udp}`,
    keys: { registrar_uri: `sip:${kInside.own}:${udp}`, aor_user: 'alice', aor_domain: 'localhost' },
    wrap: ['ip', 'netns', 'exec', inside],
  });
  assert.equal((await reg.done).code, 0, 'the inside phone registered');
  const uas = await sippIn(s, 'alice UAS (inside)', {
    scenario: 'uas_call.xml', host: kInside.phone, port: phonePort,
    wrap: ['ip', 'netns', 'exec', inside],
  });
  const uac = await sippIn(s, 'caller (outside)', {
    scenario: 'uac_call.xml', host: kOutside.phone, port: phonePort,
    remote: `${kOutside.own}:${udp}`,
    // The caller knows sipws by its outside address: one of the host's, so sipws's own.
    keys: { target_uri: `sip:alice@${kOutside.own}:${udp}` },
    wrap: ['ip', 'netns', 'exec', outside],
  });
  const [a, b] = await Promise.all([uac.done, uas.done]);
  assert.equal(a.code, 0, 'the outside caller completed the call (200, ACK, BYE 200)');
  assert.equal(b.code, 0, 'the inside phone got INVITE, ACK and BYE');

  const sawInside = addressLines(uas);
  const sawOutside = addressLines(uac);
  t.diagnostic(`inside phone saw: ${sawInside.join(' | ')}`);
  t.diagnostic(`outside phone saw: ${sawOutside.join(' | ')}`);
  const ours = (side) => `${advertise || side.own}:${udp}`;
  for (const l of [...sawInside, ...sawOutside]) {
    assert.ok(!l.includes('0.0.0.0'), `no wildcard address: ${l}`);
  }
  // The INVITE inside: sipws's Via and the Record-Route entry the callee routes to (its first)
  // name sipws's inside address. (The second entry, for the caller's side, is the outside one:
  // double record-routing, RFC 5658; hiding it is topology hiding's job.)
  assert.ok(sawInside.some((l) => l.startsWith(`Via: SIP/2.0/UDP ${ours(kInside)};`)),
    `sipws's Via inside names ${ours(kInside)}`);
  const rrInside = sawInside.filter((l) => /^Record-Route:/i.test(l));
  assert.ok(rrInside.length > 0 && rrInside[0].includes(`<sip:${ours(kInside)};lr`),
    `the callee's first Record-Route is ${ours(kInside)}: ${rrInside[0]}`);
  // The 200 outside: the entry the caller routes to (the last) names the outside address, and
  // no Via of sipws's is left in a response.
  const rrOutside = sawOutside.filter((l) => /^Record-Route:/i.test(l));
  assert.ok(rrOutside.length > 0 && rrOutside.at(-1).includes(`<sip:${ours(kOutside)};lr`),
    `the caller's last Record-Route is ${ours(kOutside)}: ${rrOutside.at(-1)}`);
  assert.ok(!sawOutside.some((l) => /^Via:/i.test(l) && l.includes(`:${udp};`)),
    'responses to the caller carry no Via of sipws');
  // The anchored media: each phone is offered / answered sipws's address on its own side.
  for (const [saw, side] of [[sawInside, kInside], [sawOutside, kOutside]]) {
    const sdp = saw.filter((l) => /^[co]=/.test(l));
    assert.ok(sdp.length >= 2, `an SDP reached the ${side.phone} phone`);
    for (const l of sdp) assert.ok(l.endsWith(` IP4 ${side.own}`), `${side.phone} was sent: ${l}`);
  }
  if (hidden) {
    // Hidden: the caller sees the inside phone's Contact as a token at sipws's outside
    // address, and no inside address at all.
    const contacts = sawOutside.filter((l) => /^(Contact|m):/i.test(l));
    assert.ok(contacts.length > 0, 'the 200 had a Contact');
    for (const l of contacts) {
      assert.match(l, new RegExp(`<sip:sw-c[A-Za-z0-9_-]+@${ours(kOutside).replaceAll('.', '\\.')}>`));
    }
    for (const l of sawOutside) assert.ok(!l.includes('10.200.0.'), `inside address in: ${l}`);
  }
}

test('wildcard listener: each side of a two-homed sipws sees its own address of sipws',
  { skip }, (t) => withScope(t, (s) => callAcross(t, s)));

test('wildcard listener with advertise: both sides see the advertised name',
  { skip }, (t) => withScope(t, (s) => callAcross(t, s, { advertise: 'sip.example.net' })));

test('wildcard listener, hidden outside: the outside sees no inside address, Contact included',
  { skip }, (t) => withScope(t, (s) => callAcross(t, s, { hidden: true })));
