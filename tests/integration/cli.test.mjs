// The store CLI without a daemon: `sipws group|forward|alias ...` against a temp SQLite store,
// every command's output and every exit code (0 done, 1 nothing to delete / not a subscriber,
// 2 usage or store error), `--config` as well as `--set store=...`, and a store that fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { haveSqlite3, makeTempDir, runCli, sqlite3 } from './lib/daemon.mjs';
import { withScope } from './lib/scope.mjs';

/** A temp dir with an SQLite store, and `cli(...args)` running sipws on it via --set. */
function storeIn(s) {
  const dir = makeTempDir('sipws-cli-');
  s.tempDir(dir);
  const store = `sqlite:${path.join(dir, 'sipws.db')}`;
  // --set takes every value after it: it goes last.
  const cli = (...args) => runCli([...args, '--set', `store=${store}`]);
  return { dir, store, cli };
}

/** Asserts exit code and (when given) stdout, with stderr in the message. */
function expectExit(r, code, stdout) {
  assert.equal(r.code, code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  if (stdout !== undefined) assert.equal(r.stdout, stdout);
}

/** Asserts a refusal: exit `code`, nothing on stdout, `pattern` on stderr. */
function expectRefused(r, code, pattern) {
  expectExit(r, code, '');
  assert.match(r.stderr, pattern);
}

test('group add/del/list: subscribers only, tokens only, idempotent add, sorted list', (t) =>
  withScope(t, async (s) => {
    const { cli } = storeIn(s);
    expectRefused(await cli('group', 'add', 'alice@example.com', 'ld'), 1,
      /^sipws group add: no subscriber alice@example\.com; add it with sipws user add$/m);
    expectExit(await cli('user', 'add', 'alice@example.com', 'pw'), 0);
    expectExit(await cli('user', 'add', 'bob@example.com', 'pw'), 0);

    expectExit(await cli('group', 'add', 'alice@EXAMPLE.com', 'ld'), 0,
      'added alice@example.com to group ld\n');
    expectExit(await cli('group', 'add', 'alice@example.com', 'ld'), 0);  // again: still one
    expectExit(await cli('group', 'add', 'alice@example.com', 'int'), 0);
    expectExit(await cli('group', 'add', 'bob@example.com', 'local'), 0);
    expectExit(await cli('group', 'list'), 0,
      'alice@example.com int\nalice@example.com ld\nbob@example.com local\n');
    expectExit(await cli('group', 'list', 'bob@example.com'), 0, 'bob@example.com local\n');
    expectExit(await cli('group', 'list', 'carol@example.com'), 0, '');

    expectExit(await cli('group', 'del', 'alice@example.com', 'ld'), 0,
      'deleted alice@example.com from group ld\n');
    expectRefused(await cli('group', 'del', 'alice@example.com', 'ld'), 1,
      /^sipws group del: alice@example\.com is not in group ld$/m);
    expectExit(await cli('group', 'list', 'alice@example.com'), 0, 'alice@example.com int\n');

    // Usage errors: exit 2, nothing written.
    expectRefused(await cli('group', 'add', 'alice@example.com', 'l d'), 2, /not a token/);
    expectRefused(await cli('group', 'add', 'alice@example.com', 'a@b'), 2, /not a token/);
    expectRefused(await cli('group', 'del', 'alice@example.com', 'x;y'), 2, /not a token/);
    expectRefused(await cli('group', 'add', 'alice', 'ld'), 2, /^sipws group add: .*no '@'/m);
    expectRefused(await cli('group', 'add', 'sip:alice@example.com', 'ld'), 2, /sip: scheme/);
    expectRefused(await cli('group', 'list', 'nobody'), 2, /^sipws group list: .*no '@'/m);
    expectExit(await cli('group', 'add', 'alice@example.com'), 2);  // GROUP missing
    expectExit(await cli('group'), 2);  // no action
    expectExit(await cli('group', 'list'), 0, 'alice@example.com int\nbob@example.com local\n');
  }));

test('forward set/del/list: kinds, targets, --ring-timeout, replace, delete one or all', (t) =>
  withScope(t, async (s) => {
    const { cli } = storeIn(s);
    expectRefused(await cli('forward', 'set', 'alice@example.com', 'busy', 'voicemail'), 1,
      /^sipws forward set: no subscriber alice@example\.com; add it with sipws user add$/m);
    expectExit(await cli('user', 'add', 'alice@example.com', 'pw'), 0);
    expectExit(await cli('user', 'add', 'bob@example.com', 'pw'), 0);

    expectExit(await cli('forward', 'set', 'alice@Example.com', 'no_answer', 'sip:carol@example.com',
      '--ring-timeout', '20'), 0,
      'set alice@example.com no_answer sip:carol@example.com ring_timeout=20\n');
    expectExit(await cli('forward', 'set', 'alice@example.com', 'busy', 'voicemail'), 0,
      'set alice@example.com busy voicemail\n');
    expectExit(await cli('forward', 'set', 'alice@example.com', 'unconditional',
      'sip:+15551230001@example.com;user=phone'), 0,
      'set alice@example.com unconditional sip:+15551230001@example.com;user=phone\n');
    expectExit(await cli('forward', 'set', 'bob@example.com', 'busy',
      'sips:voicemail@vm.example.com;transport=tls'), 0);
    expectExit(await cli('forward', 'list'), 0, [
      'alice@example.com unconditional sip:+15551230001@example.com;user=phone',
      'alice@example.com busy voicemail',
      'alice@example.com no_answer sip:carol@example.com ring_timeout=20',
      'bob@example.com busy sips:voicemail@vm.example.com;transport=tls',
      '',
    ].join('\n'));

    // Same kind again: replaced (the ring timeout too: none given, the default).
    expectExit(await cli('forward', 'set', 'alice@example.com', 'no_answer', 'voicemail'), 0,
      'set alice@example.com no_answer voicemail\n');
    expectExit(await cli('forward', 'list', 'alice@example.com'), 0, [
      'alice@example.com unconditional sip:+15551230001@example.com;user=phone',
      'alice@example.com busy voicemail',
      'alice@example.com no_answer voicemail',
      '',
    ].join('\n'));

    // Usage errors (exit 2): kind, target, ring timeout, AOR, missing arguments.
    const set = (...rest) => cli('forward', 'set', 'alice@example.com', ...rest);
    expectRefused(await set('always', 'voicemail'), 2,
      /^sipws forward set: kind 'always': want unconditional, busy or no_answer$/m);
    expectRefused(await set('Busy', 'voicemail'), 2, /kind 'Busy'/);
    for (const target of ['http://example.com/', 'tel:+15551230001', 'bob@example.com', 'sip:',
      'Voicemail',
      'sip:bob@exa mple.com', '<sip:bob@example.com>']) {
      expectRefused(await set('busy', target), 2, /^sipws forward set: target .*want voicemail/m);
    }
    expectRefused(await set('busy', 'voicemail', '--ring-timeout', '20'), 2,
      /^sipws forward set: --ring-timeout applies to no_answer only$/m);
    expectRefused(await set('unconditional', 'voicemail', '--ring-timeout', '5'), 2,
      /no_answer only/);
    for (const bad of ['0', '601', 'abc', '-5', '1.5', '']) {
      expectRefused(await set('no_answer', 'voicemail', '--ring-timeout', bad), 2,
        /^sipws forward set: --ring-timeout '.*': want whole seconds, 1\.\.600$/m);
    }
    expectExit(await set('no_answer', 'voicemail', '--ring-timeout', '600'), 0,
      'set alice@example.com no_answer voicemail ring_timeout=600\n');
    expectExit(await set('no_answer', 'voicemail', '--ring-timeout', '1'), 0);
    expectRefused(await cli('forward', 'set', 'alice@', 'busy', 'voicemail'), 2, /empty domain/);
    expectExit(await set('busy'), 2);  // TARGET missing

    // del one kind, then all of an AOR; absent -> exit 1.
    expectExit(await cli('forward', 'del', 'alice@example.com', 'busy'), 0,
      'deleted busy rule of alice@example.com\n');
    expectRefused(await cli('forward', 'del', 'alice@example.com', 'busy'), 1,
      /^sipws forward del: no busy rule for alice@example\.com$/m);
    expectRefused(await cli('forward', 'del', 'alice@example.com', 'sometimes'), 2, /kind/);
    expectExit(await cli('forward', 'del', 'alice@EXAMPLE.COM'), 0,
      'deleted 2 forwarding rules of alice@example.com\n');
    expectRefused(await cli('forward', 'del', 'alice@example.com'), 1,
      /^sipws forward del: no forwarding rules for alice@example\.com$/m);
    expectRefused(await cli('forward', 'list', 'bad aor'), 2, /whitespace/);
    expectExit(await cli('forward', 'list'), 0,
      'bob@example.com busy sips:voicemail@vm.example.com;transport=tls\n');
    // `user del` takes the subscriber's rules (and groups) with it.
    expectExit(await cli('user', 'del', 'bob@example.com'), 0);
    expectExit(await cli('forward', 'list'), 0, '');
    expectRefused(await cli('forward', 'del', 'bob@example.com'), 1, /no forwarding rules/);
  }));

test('alias add/del/list: dialled numbers, user-part characters, any AOR', (t) =>
  withScope(t, async (s) => {
    const { cli } = storeIn(s);
    // The target need not be a subscriber; visual separators are removed (RFC 3966).
    expectExit(await cli('alias', 'add', '+1 (555) 123-0001', 'alice@Example.com'), 0,
      'added alias +15551230001 for alice@example.com\n');
    expectExit(await cli('alias', 'add', 'sales', 'carol@example.com'), 0);
    expectExit(await cli('alias', 'add', '100', 'bob@example.com'), 0);
    expectExit(await cli('alias', 'add', '100', 'dave@example.com'), 0);  // replaced
    expectExit(await cli('alias', 'add', '*97', 'vm@example.com'), 0);
    expectExit(await cli('alias', 'add', 'a%23b', 'x@example.com'), 0);
    expectExit(await cli('alias', 'list'), 0, [
      '*97 vm@example.com',
      '+15551230001 alice@example.com',
      '100 dave@example.com',
      'a%23b x@example.com',
      'sales carol@example.com',
      '',
    ].join('\n'));

    expectExit(await cli('alias', 'del', '+1-555-123-0001'), 0,
      'deleted alias +15551230001\n');
    expectRefused(await cli('alias', 'del', '+15551230001'), 1,
      /^sipws alias del: no alias \+15551230001$/m);

    for (const bad of ['a@b', 'a:b', 'a;b', 'sales team', '', '#31#', '%zz', 'a%2', 'é']) {
      expectRefused(await cli('alias', 'add', bad, 'alice@example.com'), 2,
        /^sipws alias add: alias .* is not a SIP user part/m);
    }
    expectRefused(await cli('alias', 'del', 'a;b'), 2, /^sipws alias del: alias/m);
    expectRefused(await cli('alias', 'add', '200', 'alice'), 2, /^sipws alias add: .*no '@'/m);
    expectExit(await cli('alias', 'add', '200'), 2);  // AOR missing
    expectExit(await cli('alias', 'list'), 0, [
      '*97 vm@example.com',
      '100 dave@example.com',
      'a%23b x@example.com',
      'sales carol@example.com',
      '',
    ].join('\n'));
  }));

test('--config FILE names the store like --set store=...', (t) =>
  withScope(t, async (s) => {
    const { dir, cli } = storeIn(s);
    const config = path.join(dir, 'sipws.json');
    fs.writeFileSync(config,
      `{\n  // the same store as --set\n  "store": "sqlite:${path.join(dir, 'sipws.db')}"\n}\n`);
    const withConfig = (...args) => runCli([...args, '--config', config]);
    expectExit(await withConfig('user', 'add', 'alice@example.com', 'pw'), 0);
    expectExit(await withConfig('group', 'add', 'alice@example.com', 'ld'), 0);
    expectExit(await withConfig('forward', 'set', 'alice@example.com', 'busy', 'voicemail'), 0);
    expectExit(await withConfig('alias', 'add', '100', 'alice@example.com'), 0);
    // What --config wrote, --set reads (one store).
    expectExit(await cli('group', 'list'), 0, 'alice@example.com ld\n');
    expectExit(await cli('forward', 'list'), 0, 'alice@example.com busy voicemail\n');
    expectExit(await withConfig('alias', 'list'), 0, '100 alice@example.com\n');

    // A bad store or config is exit 2 naming the key.
    expectRefused(await runCli(['alias', 'list', '--set', 'store=redis://x']), 2,
      /config key 'store'/);
    expectRefused(await runCli(['group', 'list', '--config', path.join(dir, 'missing.json')]), 2,
      /missing\.json/);
  }));

test('check-config FILE: exit 0 for a configuration sipws would start with, 2 naming the bad key',
  (t) => withScope(t, async (s) => {
    const { dir } = storeIn(s);
    const good = path.join(dir, 'good.json');
    fs.writeFileSync(good, '{\n  // comments allowed\n  "domain": "example.com",\n' +
      '  "gateways": [{"name": "GW1", "uri": "sip:10.0.0.9", "dtmf": "info"}],\n' +
      '  "routes": [{"match": "^9", "gateways": ["GW1"]}]\n}\n');
    expectExit(await runCli(['check-config', good]), 0, `sipws: ${good} is a valid configuration\n`);
    const cases = [
      ['{"domain": "example.com", "admin_token": "short"}', /config key 'admin_token'/],
      ['{"routes": [{"match": "^9", "gateways": ["GW3"]}]}', /config key 'routes\[0\]\.gateways'/],
      ['{"gateways": [{"name": "G", "uri": "sip:gw.example", "dtmf": "info"}]}',
        /config key 'gateways\[0\]\.dtmf'/],
      ['{"domian": "typo"}', /config key 'domian': unknown key/],
      ['{"domain": "x",,}', /not valid JSON/],
    ];
    for (const [text, pattern] of cases) {
      const f = path.join(dir, 'bad.json');
      fs.writeFileSync(f, text);
      expectRefused(await runCli(['check-config', f]), 2, pattern);
    }
    expectRefused(await runCli(['check-config', good, '--set', 'nat_keepalive_method=ping']), 2,
      /config key 'nat_keepalive_method'/);
    expectRefused(await runCli(['check-config', path.join(dir, 'missing.json')]), 2,
      /missing\.json/);
    expectRefused(await runCli(['check-config']), 2, /file is required/);
  }));

test('a store that fails a command: exit 2 naming the command, never "no such", nothing lost',
  { skip: !haveSqlite3 && 'no sqlite3 shell (Debian package sqlite3)' }, (t) =>
    withScope(t, async (s) => {
      const { store, cli } = storeIn(s);
      expectExit(await cli('user', 'add', 'alice@example.com', 'pw'), 0);
      expectExit(await cli('alias', 'add', '100', 'alice@example.com'), 0);
      // The subscriber table set aside and a view in its place (the CLI's CREATE TABLE IF NOT
      // EXISTS leaves it): every subscriber read and write fails in SQLite.
      await sqlite3(store, 'ALTER TABLE subscriber RENAME TO kept; ' +
        'CREATE VIEW subscriber AS SELECT 1 AS x');
      const storeError = (cmd) => new RegExp(`^sipws ${cmd}: store error: .+`, 'm');
      expectRefused(await cli('user', 'list'), 2, storeError('user list'));
      expectRefused(await cli('user', 'add', 'bob@example.com', 'pw'), 2, storeError('user add'));
      expectRefused(await cli('user', 'del', 'alice@example.com'), 2, storeError('user del'));
      // Not "no subscriber alice@example.com" (exit 1): the store could not say.
      expectRefused(await cli('group', 'add', 'alice@example.com', 'ld'), 2,
        storeError('group add'));
      // A write the database refuses leaves the row it would have replaced.
      await sqlite3(store, 'CREATE TRIGGER full BEFORE INSERT ON alias ' +
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END");
      expectRefused(await cli('alias', 'add', '100', 'bob@example.com'), 2,
        /^sipws alias add: store error: .*disk full/m);
      expectExit(await cli('alias', 'list'), 0, '100 alice@example.com\n');
      await sqlite3(store, 'DROP VIEW subscriber; ALTER TABLE kept RENAME TO subscriber');
      expectExit(await cli('user', 'list'), 0, 'alice@example.com\n');
    }));
