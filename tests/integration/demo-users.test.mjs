// (g) `sipws run` on the embedded default (no --config, no store override; only the ports are
// moved off 5060/8080/8443 so that the test can run anywhere) in an empty working directory
// creates alice and bob with random passwords, prints them and the demo page's URL right after
// the ready line, and those credentials register; a restart on the same ./var/ only says that
// they exist and how to reset a password.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { daemonIn, uaIn } from './lib/fixtures.mjs';
import { withScope } from './lib/scope.mjs';
import { waitEvent, waitFor } from './lib/wait.mjs';

const kCreated =
  /^demo users: alice@localhost \/ ([2-9a-zA-Z]{12}), bob@localhost \/ ([2-9a-zA-Z]{12}) at (https:\/\/localhost:(\d+)\/)$/m;

/** The stderr line after `sipws ready: ...` (the daemon prints it before serving). */
async function demoLine(d) {
  return waitFor(() => {
    const lines = d.stderr().split('\n');
    const i = lines.findIndex((l) => l.startsWith('sipws ready:'));
    return i >= 0 && i + 1 < lines.length && lines[i + 1].startsWith('demo ') ? lines[i + 1] : null;
  }, { ms: 5000, what: 'the line after "sipws ready"' });
}

async function register(s, d, user, password) {
  const ua = uaIn(s, { proto: 'wss', port: d.ports.wss, user, password });
  const registered = waitEvent(ua, 'registered', { failOn: ['registrationFailed'] });
  ua.start();
  await registered;
}

test('(g) embedded default: demo users printed after the ready line, they register; a restart says they exist', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s, { embeddedStore: true });
    const line = await demoLine(d);
    const m = kCreated.exec(line);
    assert.ok(m, `unexpected demo line: ${line}`);
    const [, alicePw, bobPw, , port] = m;
    assert.notEqual(alicePw, bobPw);
    assert.equal(Number(port), d.ports.wss, 'the URL is the WSS listener (the demo page)');

    await register(s, d, 'alice', alicePw);
    await register(s, d, 'bob', bobPw);
    // A wrong password is refused: the users really have digest credentials.
    const bad = uaIn(s, { proto: 'wss', port: d.ports.wss, user: 'alice', password: `${alicePw}x` });
    const failed = waitEvent(bad, 'registrationFailed', { failOn: ['registered'] });
    bad.start();
    assert.equal((await failed).cause, 'Authentication Error');

    const r = await d.stop();
    assert.equal(r.code, 0);
    const again = await daemonIn(s, { embeddedStore: true, dir: d.dir, ports: d.ports });
    assert.equal(
      await demoLine(again),
      'demo users: alice@localhost, bob@localhost exist (passwords are not stored; reset one ' +
        `with \`sipws user add alice@localhost NEWPASS\`) at https://localhost:${d.ports.wss}/`,
    );
    await register(s, again, 'alice', alicePw); // unchanged by the restart
  }));

test('(g) no demo users when the store is given with --set store=...', (t) =>
  withScope(t, async (s) => {
    const d = await daemonIn(s);
    // The demo line would be printed before the daemon serves anything: after a clean stop,
    // all of stderr is there to check.
    assert.equal((await d.stop()).code, 0);
    assert.doesNotMatch(d.stderr(), /^demo (users|page)/m);
  }));
