// Trunks (issue 14, `registrations`): sipws registers to a SIP provider (Kamailio from Debian's
// packages, tests/integration/kamailio/pbx.cfg as a provider: digest auth, 423 below 3 s, calls
// to numbers sent to the user registered as trunk1), keeps the registration fresh, registers
// again after the provider restarts, and an INVITE from the provider for the trunk's number
// (a DID, an alias of a local user) reaches that user, a JsSIP browser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metric, runCli } from './lib/daemon.mjs';
import { daemonIn, registerSippAt, sippIn } from './lib/fixtures.mjs';
import { kNoMedia } from './lib/jssip.mjs';
import { jssipUserIn } from './lib/jssip-user.mjs';
import { haveKamailio, kamailioIn } from './lib/kamailio.mjs';
import { freePort } from './lib/ports.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor, withTimeout } from './lib/wait.mjs';

const skip = haveKamailio ? false : 'kamailio is not installed (scripts/install-deps.sh --test)';

test('sipws keeps a trunk registered at a provider, also across its restart, and takes its DID calls',
  { skip }, (t) => withScope(t, async (s) => {
    const udpPort = await freePort();
    const provider = { pbx: 'provider.test', udpPort, defines: ['DID_TRUNK="trunk1"', 'MIN_EXPIRES=3'] };
    let kam = await kamailioIn(s, provider);
    const trunk = {
      name: 'provider', aor: 'sip:trunk1@provider.test', outbound_proxy: `sip:127.0.0.1:${udpPort}`,
      password: 'secret', expires: 2,
    };
    const d = await daemonIn(s, { extraSets: [`registrations=${JSON.stringify([trunk])}`] });
    const r = await runCli(['alias', 'add', '15550001', 'alice@localhost', '--set', `store=${d.store}`]);
    assert.equal(r.code, 0, r.stderr);

    // 401 answered, 423 (2 s is too brief) followed with Min-Expires 3, then registered.
    await waitFor(async () => (await metric(d, 'trunks_registered')) === 1,
      { ms: 10000, what: 'the trunk registered' });
    const log = d.stderr();
    assert.match(log, /trunk provider: 423, asking for 3 s instead of 2/);
    assert.match(log, /trunk provider: registered at sip:provider\.test for 3 s/);
    assert.ok((await metric(d, 'trunk_register_challenged')) >= 1);
    // Refreshed before it expires (every 2 s of the 3 granted).
    const ok = await metric(d, 'trunk_register_ok');
    await waitFor(async () => (await metric(d, 'trunk_register_ok')) >= ok + 2,
      { ms: 8000, what: 'two refreshes' });

    // A call from the provider for the DID reaches alice.
    const alice = await jssipUserIn(s, d, 'alice', (session) => session.answer(kNoMedia));
    const call = async (name) => {
      const uac = await sippIn(s, name, {
        scenario: 'uac_call_auth.xml',
        port: await freePort(),
        remote: `127.0.0.1:${udpPort}`,
        keys: { target_uri: 'sip:15550001@provider.test', aor_user: 'caller', aor_domain: 'provider.test' },
        args: ['-au', 'caller', '-ap', 'secret'],
      });
      return (await withTimeout(uac.done, 20000, `${name} exit`)).code;
    };
    assert.equal(await call('caller -> DID (1)'), 0, 'the DID call did not complete');
    assert.equal(alice.invites.length, 1);
    assert.equal(alice.invites[0].get('to').includes('15550001'), true);
    assert.equal(await metric(d, 'trunk_requests_in'), 1);

    // The provider restarts (its registrations are in memory: all gone); sipws registers again.
    await kam.stop();
    kam = await kamailioIn(s, provider);
    const before = await metric(d, 'trunk_register_ok');
    await waitFor(async () => (await metric(d, 'trunk_register_ok')) > before,
      { ms: 10000, what: 'a registration at the restarted provider' });
    assert.equal(await call('caller -> DID (2)'), 0, 'the DID call after the restart did not complete');
    assert.equal(alice.invites.length, 2);
  }));

test('a trunk whose password is wrong is not registered, and says so', { skip },
  (t) => withScope(t, async (s) => {
    const kam = await kamailioIn(s, { pbx: 'provider.test' });
    const trunk = { aor: 'sip:trunk1@provider.test', outbound_proxy: `sip:127.0.0.1:${kam.ports.udp}`,
      password: 'wrong' };
    const d = await daemonIn(s, { extraSets: [`registrations=${JSON.stringify([trunk])}`] });
    await waitFor(async () => (await metric(d, 'trunk_register_failed')) >= 1,
      { ms: 10000, what: 'the failed registration' });
    assert.equal(await metric(d, 'trunks_registered'), 0);
    assert.match(d.stderr(), /trunk sip:trunk1@provider\.test: registration at sip:provider\.test failed \(401 credentials refused\); next attempt in 5 s/);
  }));

test('a call out through a gateway that answers 407 is authenticated by sipws with the gateway\'s credentials',
  { skip }, (t) => withScope(t, async (s) => {
    // The gateway: Kamailio challenging every INVITE (any user, password "secret"), with a
    // SIPp phone registered there as 95551234.
    const gw = await kamailioIn(s, { pbx: 'gw.test' });
    const uasPort = await freePort();
    await registerSippAt(s, { registrarPort: gw.ports.udp, user: '95551234', domain: 'gw.test',
      port: uasPort });
    const uas = await sippIn(s, 'the phone behind the gateway', { scenario: 'uas_call.xml', port: uasPort });

    const gateways = [{ name: 'GW1', uri: `sip:127.0.0.1:${gw.ports.udp}`, auth_user: 'sipws-trunk',
      password: 'secret' }];
    const routes = [{ match: '^9[0-9]+$', gateways: ['GW1'] }];
    const d = await daemonIn(s, { extraSets: [`gateways=${JSON.stringify(gateways)}`,
      `routes=${JSON.stringify(routes)}`] });
    await d.addUser('alice@localhost', 'secret');
    // alice's own 407 comes from sipws; the gateway's never reaches her.
    const uac = await sippIn(s, 'alice calls out', {
      scenario: 'uac_call_auth.xml',
      port: await freePort(),
      remote: `127.0.0.1:${d.ports.udp}`,
      keys: { target_uri: 'sip:95551234@localhost', aor_user: 'alice', aor_domain: 'localhost' },
      args: ['-au', 'alice', '-ap', 'secret'],
    });
    const [a, b] = await withTimeout(Promise.all([uac.done, uas.done]), 25000, 'SIPp exits');
    assert.equal(a.code, 0, 'the caller did not complete the call');
    assert.equal(b.code, 0, 'the phone behind the gateway did not complete the call');
    assert.equal(await metric(d, 'proxy_challenges_answered'), 1);
  }));
