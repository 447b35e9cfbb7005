// Install and service (docs/operations.md): `cmake --install BUILD --prefix P` of the build that
// SIPWS_BIN belongs to gives a prefix whose sipws runs from any working directory on its example
// configuration, finds its web files in P/share/sipws/www, keeps its state beside the
// configuration (never in the working directory) and tells systemd READY/RELOADING/STOPPING
// over NOTIFY_SOCKET; `cpack -G DEB` makes a package with the binary, the configuration as a
// conffile, the web files and the unit, whose postinst creates the `sipws` user; the unit passes
// `systemd-analyze verify`; the .deb installs with dpkg -i in a throwaway root (an overlay in a
// private mount namespace) and runs there as the sipws user, and under a real systemd (PID 1 of
// new PID and network namespaces): active through sd_notify, hardened, reloaded, stopped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { makeTempDir, sipwsBin } from './lib/daemon.mjs';
import { freePorts } from './lib/ports.mjs';
import { trackPid, untrackPid } from './lib/procs.mjs';
import { withScope } from './lib/scope.mjs';
import { waitFor } from './lib/wait.mjs';

const buildDir = path.dirname(sipwsBin);
const cache = fs.existsSync(path.join(buildDir, 'CMakeCache.txt'))
  ? fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8')
  : null;
const noBuildDir = cache ? false : `${buildDir} is not a CMake build directory (SIPWS_BIN)`;
/** A sanitizer build: its package is no deliverable, and is not installed nor run as a service. */
const sanitized = cache ? /^SIPWS_SANITIZE:BOOL=ON$/m.test(cache) : false;
const have = (cmd, args = ['--version']) => spawnSync(cmd, args).status === 0;

/** Runs `cmd args` to completion (`ms` max); resolves {code, stdout, stderr}. */
function run(cmd, args, { ms = 120000, cwd } = {}) {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: ms, killSignal: 'SIGKILL', cwd, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
  });
}

/** Asserts exit 0, with the output in the message. */
function ok(r, what) {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

/** `cmake --install` into a fresh temp prefix (kept for the test's scope). */
async function installPrefix(s) {
  const prefix = makeTempDir('sipws-prefix-');
  s.tempDir(prefix);
  ok(await run('cmake', ['--install', buildDir, '--prefix', prefix]), 'cmake --install');
  return prefix;
}

/**
 * One raw HTTP/1.1 GET of `target` exactly as written (fetch would normalise `..` and `%2e`);
 * resolves {status, headers, body}.
 */
function rawGet(port, target) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`GET ${target}: no answer in 5 s`));
    }, 5000);
    sock.on('connect', () =>
      sock.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`));
    sock.on('data', (c) => { data += c.toString('latin1'); });
    sock.on('error', (e) => { clearTimeout(timer); reject(e); });
    sock.on('close', () => {
      clearTimeout(timer);
      const [head, ...rest] = data.split('\r\n\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({ status: m ? Number(m[1]) : 0, headers: head, body: rest.join('\r\n\r\n') });
    });
  });
}

/**
 * A datagram socket at `file` that plays systemd's NOTIFY_SOCKET (python3: Node has no AF_UNIX
 * datagram sockets); `messages` holds what arrived. Stopped by PID in the scope's cleanup.
 */
async function notifySocket(s, file) {
  const script = [
    'import json, socket, sys',
    's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
    's.bind(sys.argv[1])',
    'print("bound", flush=True)',
    'while True:',
    '    print(json.dumps(s.recv(4096).decode()), flush=True)',
  ].join('\n');
  const proc = spawn('python3', ['-c', script, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  trackPid(proc.pid);
  const exited = new Promise((resolve) => proc.once('exit', resolve));
  s.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, 'SIGTERM');
    await exited;
    untrackPid(proc.pid);
  });
  let out = '';
  let err = '';
  proc.stdout.on('data', (c) => { out += c.toString(); });
  proc.stderr.on('data', (c) => { err += c.toString(); });
  s.log('notify socket stderr', () => err);
  await waitFor(() => out.startsWith('bound\n'), { ms: 5000, what: 'the notify socket' });
  return {
    messages: () => out.split('\n').slice(1).filter(Boolean).map((l) => JSON.parse(l)),
  };
}

/**
 * Runs the package's postinst (`configure`, a first install) as root in a private mount
 * namespace whose /etc and /var/lib are copies (the host's are untouched, and so is its service
 * manager: /run/systemd is hidden), and checks that it created the `sipws` system user, the
 * state folder owned by it and the configuration readable by its group only. Skipped (with a
 * diagnostic) where that namespace cannot be made: not root, no unshare.
 */
async function runPostinst(t, dir, postinst) {
  if (process.getuid() !== 0 || !have('unshare', ['--version'])) {
    t.diagnostic('postinst not run: needs root and unshare (util-linux)');
    return;
  }
  const script = [
    'set -e',
    'cp -a /etc "$1/etc"',
    'mkdir -p "$1/varlib"',
    'mount --bind "$1/etc" /etc',
    'mount --bind "$1/varlib" /var/lib',
    'if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; fi',
    'mkdir -p /etc/sipws && echo "{}" > /etc/sipws/sipws.json',
    'sh "$2" configure ""',
    'getent passwd sipws',
    'stat -c "%n %U:%G %a" /var/lib/sipws /etc/sipws/sipws.json',
  ].join('\n');
  const r = ok(await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', dir,
    postinst]), 'postinst configure in a private mount namespace');
  assert.match(r.stdout, /^sipws:x:\d+:\d+:[^:]*:\/var\/lib\/sipws:\/usr\/sbin\/nologin$/m);
  assert.match(r.stdout, /^\/var\/lib\/sipws sipws:sipws 750$/m);
  assert.match(r.stdout, /^\/etc\/sipws\/sipws\.json root:sipws 640$/m);
}

/**
 * Spawns `cmd args` for the test's scope: its output collected (shown if the test fails, under
 * `label`), its PID tracked, and `killSignal` sent at the end if it still runs.
 * Returns {proc, log() (stdout and stderr so far), exited (resolves {code, signal})}.
 */
function spawnLogged(s, label, cmd, args, { cwd, env, killSignal = 'SIGKILL' } = {}) {
  const proc = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  trackPid(proc.pid);
  let log = '';
  proc.stdout.on('data', (c) => { log += c.toString(); });
  proc.stderr.on('data', (c) => { log += c.toString(); });
  s.log(label, () => log);
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  s.defer(async () => {
    if (proc.exitCode === null && proc.signalCode === null) process.kill(proc.pid, killSignal);
    await exited;
    untrackPid(proc.pid);
  });
  return { proc, log: () => log, exited };
}

/**
 * The shell lines that make a throwaway copy of this machine's root in folder "$1" (run in a
 * private mount namespace: an overlay over / whose changes live in a tmpfs that vanishes with
 * the namespace; /run and /tmp empty, so no service manager is found) and install package "$2"
 * there with dpkg -i. The root is "$R" afterwards.
 */
const kThrowawayRootWithDeb = [
  'set -e',
  'W="$1"',
  'mount -t tmpfs tmpfs "$W"',
  'mkdir "$W/upper" "$W/work" "$W/root"',
  'mount -t overlay overlay -o lowerdir=/,upperdir="$W/upper",workdir="$W/work" "$W/root"',
  'R="$W/root"',
  'mount --rbind /dev "$R/dev"',
  'mount -t proc proc "$R/proc"',
  'mount --rbind /sys "$R/sys"',
  'mount -t tmpfs tmpfs "$R/run"',
  'mount -t tmpfs tmpfs "$R/tmp"',
  'cp "$2" "$R/tmp/sipws.deb"',
  'echo "dpkg -i:" >&2',
  'chroot "$R" dpkg -i /tmp/sipws.deb >&2',
];

/**
 * Installs `deb` with `dpkg -i` into a throwaway copy of this machine's root, and runs the
 * installed daemon as the service would: a private mount namespace with an overlay over / whose
 * changes live in a tmpfs that vanishes with the namespace (the host's dpkg database, users and
 * files are untouched; /run is empty, so the maintainer scripts find no service manager), then
 * `/usr/bin/sipws run --config /etc/sipws/sipws.json --set state_dir=/var/lib/sipws` as the
 * `sipws` user (the unit's ExecStart and User=), its listeners moved to free loopback ports.
 * Checks the user, /health, the demo page from /usr/share/sipws/www and the store created in
 * /var/lib/sipws by sipws. Skipped (with a diagnostic) without root, unshare, setpriv or
 * overlayfs.
 */
async function installDebAndRun(t, s, deb, packagedIndex) {
  if (process.getuid() !== 0 || !have('unshare') || !have('setpriv')) {
    t.diagnostic('dpkg -i not tried: needs root, unshare and setpriv (util-linux)');
    return;
  }
  const probe = await run('unshare', ['-m', '--propagation', 'private', 'sh', '-c',
    'mount -t tmpfs tmpfs /mnt && mkdir /mnt/u /mnt/w /mnt/r && ' +
    'mount -t overlay overlay -o lowerdir=/,upperdir=/mnt/u,workdir=/mnt/w /mnt/r']);
  if (probe.code !== 0) {
    t.diagnostic(`dpkg -i not tried: no overlay over / here: ${probe.stderr.trim()}`);
    return;
  }
  const work = makeTempDir('sipws-dpkg-');
  s.tempDir(work);
  const [udp, ws, wss, admin] = await freePorts(4);
  const script = [
    ...kThrowawayRootWithDeb,
    'chroot "$R" dpkg-query -W -f \'installed: ${Package} ${Version} ${Status}\\n\' sipws >&2',
    'chroot "$R" getent passwd sipws | sed "s/^/user: /" >&2',
    'exec chroot "$R" setpriv --reuid=sipws --regid=sipws --init-groups /usr/bin/sipws run ' +
      '--config /etc/sipws/sipws.json --set state_dir=/var/lib/sipws ' +
      `--set listen=udp:127.0.0.1:${udp},ws:127.0.0.1:${ws},wss:127.0.0.1:${wss} ` +
      `--set admin_listen=127.0.0.1:${admin}`,
  ].join('\n');
  // unshare, sh, chroot and setpriv exec: this PID becomes sipws.
  const { proc, log, exited } = spawnLogged(s, 'dpkg -i and the installed sipws', 'unshare',
    ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', work, deb],
    { killSignal: 'SIGTERM' });
  await Promise.race([
    waitFor(() => log().includes('sipws ready'),
      { ms: 60000, what: 'the installed sipws ready' }),
    exited.then((r) => { throw new Error(`exited before ready: ${JSON.stringify(r)}\n${log()}`); }),
  ]);
  assert.match(log(), /^installed: sipws \S+ install ok installed$/m);
  const user = /^user: sipws:x:(\d+):(\d+):[^:]*:\/var\/lib\/sipws:\/usr\/sbin\/nologin$/m.exec(log());
  assert.ok(user, `the sipws system user:\n${log()}`);
  assert.ok(Number(user[1]) > 0 && Number(user[1]) < 1000, `a system uid: ${user[1]}`);
  assert.match(log(), / www=\/usr\/share\/sipws\/www\/demo-jssip /);

  assert.equal((await fetch(`http://127.0.0.1:${admin}/health`)).status, 200);
  const page = await fetch(`http://127.0.0.1:${ws}/`);
  assert.equal(page.status, 200);
  assert.equal(await page.text(), packagedIndex);
  // What it runs as, and what it wrote: seen through the process's own root.
  const status = fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8');
  assert.match(status, new RegExp(`^Uid:\\s+${user[1]}\\s+${user[1]}\\s`, 'm'), 'runs as sipws');
  const db = fs.statSync(`/proc/${proc.pid}/root/var/lib/sipws/sipws.db`);
  assert.equal(db.uid, Number(user[1]), 'the store is created by sipws in /var/lib/sipws');
  assert.ok(!fs.existsSync('/var/lib/sipws/sipws.db') || fs.statSync('/var/lib/sipws/sipws.db').ino !== db.ino,
    'the host is untouched');

  process.kill(proc.pid, 'SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null }, 'a clean stop on SIGTERM');
}

/**
 * The packaged unit under a real systemd: `deb` installed (dpkg -i) in a throwaway root as in
 * installDebAndRun, then /lib/systemd/systemd booted as PID 1 of new PID and network namespaces
 * (only loopback; container mode) with `--unit=sipws.service`. Checks the service becomes active
 * through sd_notify (Type=notify: READY=1 and its STATUS=), answers /health on the packaged
 * admin port, runs as sipws under the unit's hardening (no new privileges, a seccomp filter,
 * only CAP_NET_BIND_SERVICE), survives `systemctl reload` (ExecReload, SIGHUP) and stops cleanly
 * with `systemctl stop`. Skipped (with a diagnostic) without root, systemd, nsenter or overlayfs.
 * The namespaces end with the test: unshare kills its child (systemd, and so the whole PID
 * namespace) when it is killed.
 */
async function runUnderSystemd(t, s, deb) {
  if (process.getuid() !== 0 || !fs.existsSync('/lib/systemd/systemd') || !have('nsenter') ||
      !have('unshare')) {
    t.diagnostic('systemd run not tried: needs root, /lib/systemd/systemd, unshare and nsenter');
    return;
  }
  const work = makeTempDir('sipws-systemd-');
  s.tempDir(work);
  const script = [
    ...kThrowawayRootWithDeb,
    'ip link set lo up',
    'echo "booting systemd" >&2',
    'export container=other',
    'exec chroot "$R" /lib/systemd/systemd --system --unit=sipws.service --log-target=console',
  ].join('\n');
  // unshare ignores SIGTERM while it waits; SIGKILL (spawnLogged's) ends it, and --kill-child
  // then kills systemd, PID 1 of the namespace, and with it every process there.
  const { proc, log } = spawnLogged(s, 'dpkg -i and systemd', 'unshare', ['-m', '-p', '-n', '-f',
    '--kill-child=SIGKILL', '--propagation', 'private', 'sh', '-c', script, 'sh', work, deb]);
  // systemd: the child unshare forked, PID 1 of the new namespaces.
  let pid1 = 0;
  await waitFor(() => {
    if (!log().includes('booting systemd')) return false;
    const kids = fs.readFileSync(`/proc/${proc.pid}/task/${proc.pid}/children`, 'utf8').trim();
    pid1 = Number(kids.split(/\s+/)[0] || 0);
    return pid1 > 0 && fs.readFileSync(`/proc/${pid1}/comm`, 'utf8').trim() === 'systemd';
  }, { ms: 60000, intervalMs: 100, what: 'dpkg -i, then systemd as PID 1' });
  /** `cmd args` in systemd's namespaces and root. */
  const inside = (cmd, args, ms) =>
    run('nsenter', ['-t', String(pid1), '-m', '-p', '-n', '-r', '-w', cmd, ...args], { ms });
  const show = async (props) => Object.fromEntries((await inside('systemctl',
    ['show', 'sipws', ...props.flatMap((p) => ['-p', p])])).stdout.trim().split('\n')
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));

  let state = {};
  await waitFor(async () => {
    state = await show(['ActiveState', 'SubState', 'StatusText', 'MainPID', 'NRestarts']);
    if (state.ActiveState === 'failed') throw new Error(`sipws.service failed: ${JSON.stringify(state)}`);
    return state.ActiveState === 'active';
  }, { ms: 60000, intervalMs: 250, what: 'sipws.service active' });
  assert.equal(state.SubState, 'running');
  assert.match(state.StatusText, /^serving: udp:0\.0\.0\.0:5060 /, 'STATUS= of sd_notify');
  assert.equal(state.NRestarts, '0');
  const health = ok(await inside('curl', ['-s', 'http://127.0.0.1:8081/health']), 'curl /health');
  assert.equal(health.stdout.trim(), 'ok');

  // The hardening as the kernel sees it.
  const status = ok(await inside('cat', [`/proc/${state.MainPID}/status`]), 'status').stdout;
  const uid = ok(await inside('id', ['-u', 'sipws']), 'id -u sipws').stdout.trim();
  assert.match(status, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s`, 'm'), 'runs as sipws');
  assert.match(status, /^NoNewPrivs:\s+1$/m);
  assert.match(status, /^Seccomp:\s+2$/m, 'SystemCallFilter');
  assert.match(status, /^CapEff:\s+0000000000000400$/m, 'CAP_NET_BIND_SERVICE only');

  ok(await inside('systemctl', ['reload', 'sipws'], 30000), 'systemctl reload sipws');
  await waitFor(async () => (await inside('journalctl', ['-u', 'sipws', '--no-pager', '-o', 'cat']))
    .stdout.includes('SIGHUP: configuration reloaded'), { ms: 15000, intervalMs: 250,
    what: 'the reload in the journal' });
  state = await show(['ActiveState', 'MainPID']);
  assert.equal(state.ActiveState, 'active', 'still active after the reload');

  ok(await inside('systemctl', ['stop', 'sipws'], 60000), 'systemctl stop sipws');
  state = await show(['ActiveState', 'Result', 'ExecMainStatus']);
  assert.deepEqual(state, { ActiveState: 'inactive', Result: 'success', ExecMainStatus: '0' });
}

test('cmake --install: the installed sipws runs from another folder on its example config', {
  skip: noBuildDir,
}, (t) => withScope(t, async (s) => {
  const prefix = await installPrefix(s);
  const at = (...p) => path.join(prefix, ...p);
  for (const f of ['bin/sipws', 'etc/sipws/sipws.json', 'share/sipws/www/demo-jssip/index.html',
    'share/sipws/www/demo-jssip/app.js', 'share/sipws/www/demo-jssip/vendor/jssip.min.js',
    'share/doc/sipws/README.md', 'share/doc/sipws/docs/configuration.md',
    'share/doc/sipws/docs/operations.md', 'lib/systemd/system/sipws.service']) {
    assert.ok(fs.existsSync(at(f)), `${f} is installed`);
  }
  for (const f of ['share/sipws/www/demo-jssip/node_modules', 'share/sipws/www/demo-jssip/build.sh']) {
    assert.ok(!fs.existsSync(at(f)), `${f} is not installed`);
  }
  const unit = fs.readFileSync(at('lib/systemd/system/sipws.service'), 'utf8');
  assert.match(unit, new RegExp(`^ExecStart=${at('bin', 'sipws')} run --config ` +
    `${at('etc', 'sipws', 'sipws.json')} --set state_dir=/var/lib/sipws$`, 'm'));
  // The web admin: www/admin when the tree has it; a placeholder in this prefix otherwise.
  const adminIndex = at('share/sipws/www/admin/index.html');
  if (!fs.existsSync(adminIndex)) {
    fs.mkdirSync(path.dirname(adminIndex), { recursive: true });
    fs.writeFileSync(adminIndex, '<!doctype html><title>placeholder admin</title>\n');
  }
  // Something the web admin must never serve: the configuration, one folder up from www.
  const config = at('etc/sipws/sipws.json');

  const cwd = makeTempDir('sipws-cwd-');
  s.tempDir(cwd);
  ok(await run(at('bin/sipws'), ['check-config', config], { cwd }), 'check-config');

  const haveNotify = have('python3');
  const notify = haveNotify ? await notifySocket(s, path.join(cwd, 'notify.sock')) : null;
  const [udp, ws, wss, admin] = await freePorts(4);
  const args = ['run', '--config', config,
    '--set', `listen=udp:127.0.0.1:${udp},ws:127.0.0.1:${ws},wss:127.0.0.1:${wss}`,
    '--set', `admin_listen=127.0.0.1:${admin}`, '--set', 'log_level=debug'];
  const env = { ...process.env };
  if (notify) env.NOTIFY_SOCKET = path.join(cwd, 'notify.sock');
  const { proc, log, exited } = spawnLogged(s, 'installed sipws stderr', at('bin/sipws'),
    args, { cwd, env });
  await Promise.race([
    waitFor(() => log().includes('sipws ready'), { ms: 15000, what: 'sipws ready' }),
    exited.then((r) => { throw new Error(`sipws exited before ready: ${JSON.stringify(r)}`); }),
  ]);
  assert.match(log(), new RegExp(`www=${at('share/sipws/www/demo-jssip')} `));

  // The demo page and its bundle on the WS port, from the installed share/.
  const page = await fetch(`http://127.0.0.1:${ws}/`);
  assert.equal(page.status, 200);
  assert.equal(await page.text(), fs.readFileSync(at('share/sipws/www/demo-jssip/index.html'), 'utf8'));
  const bundle = await fetch(`http://127.0.0.1:${ws}/vendor/jssip.min.js`);
  assert.equal(bundle.status, 200);
  assert.equal((await bundle.arrayBuffer()).byteLength,
    fs.statSync(at('share/sipws/www/demo-jssip/vendor/jssip.min.js')).size);

  // The admin listener: /health, and the web admin at /admin/.
  const health = await fetch(`http://127.0.0.1:${admin}/health`);
  assert.equal(health.status, 200);
  assert.equal(await health.text(), 'ok\n');
  const index = await fetch(`http://127.0.0.1:${admin}/admin/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type'), /^text\/html/);
  assert.equal(await index.text(), fs.readFileSync(adminIndex, 'utf8'));
  const bare = await rawGet(admin, '/admin');
  assert.equal(bare.status, 301);
  assert.match(bare.headers, /\r\nLocation: \/admin\/\r\n/i);
  // No way out of the admin folder to the configuration (share/sipws/www/admin -> etc/sipws).
  for (const target of ['/admin/../../../../etc/sipws/sipws.json',
    '/admin/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/sipws/sipws.json',
    '/admin/..%2f..%2f..%2f..%2fetc%2fsipws%2fsipws.json',
    `/admin/${'..%5c'.repeat(4)}etc%5csipws%5csipws.json`,
    `/admin/${config}`, `/admin//${config}`]) {
    const r = await rawGet(admin, target);
    assert.ok([400, 403, 404].includes(r.status), `${target}: ${r.status}`);
    assert.ok(!r.body.includes('"listen"'), `${target} must not serve the configuration`);
  }

  // State beside the configuration, nothing in the working directory.
  const etc = at('etc/sipws');
  await waitFor(() => fs.existsSync(path.join(etc, 'sipws.db')), { ms: 5000, what: 'the store' });
  assert.ok(fs.existsSync(path.join(etc, 'route.key')), 'route.key beside the store');
  assert.ok(fs.existsSync(path.join(etc, 'certs', 'sipws-dev.crt')), 'dev certificate in etc/sipws/certs');
  assert.deepEqual(fs.readdirSync(cwd).filter((f) => f !== 'notify.sock'), [],
    'nothing written to the working directory');

  if (notify) {
    await waitFor(() => notify.messages().some((m) => m.startsWith('READY=1')),
      { ms: 5000, what: 'READY=1 on NOTIFY_SOCKET' });
    process.kill(proc.pid, 'SIGHUP');
    await waitFor(() => notify.messages().length >= 3,
      { ms: 5000, what: 'RELOADING=1 and READY=1 after SIGHUP' });
    const [ready, reloading, reloaded] = notify.messages();
    assert.match(ready, /^READY=1\nSTATUS=serving: /);
    assert.equal(reloading, 'RELOADING=1');
    assert.equal(reloaded, 'READY=1\nSTATUS=configuration reloaded');
  } else {
    t.diagnostic('python3 not found: NOTIFY_SOCKET not checked');
  }
  process.kill(proc.pid, 'SIGTERM');
  const r = await exited;
  assert.deepEqual(r, { code: 0, signal: null }, 'exit 0 on SIGTERM');
  if (notify) {
    await waitFor(() => notify.messages().length >= 4, { ms: 5000, what: 'STOPPING=1' });
    assert.equal(notify.messages()[3], 'STOPPING=1\nSTATUS=draining');
  }
}));

test('systemd-analyze verify accepts the installed unit', {
  skip: noBuildDir || (!have('systemd-analyze') &&
    'systemd-analyze not found (Debian package systemd)'),
}, (t) => withScope(t, async (s) => {
  const prefix = await installPrefix(s);
  const unit = path.join(prefix, 'lib/systemd/system/sipws.service');
  const r = await run('systemd-analyze', ['verify', '--man=no', unit], { ms: 60000 });
  // verify prints every problem on stderr and exits non-zero for errors; warnings about
  // other units of this machine are not ours.
  const ours = r.stderr.split('\n').filter((l) => l.includes('sipws.service'));
  assert.equal(r.code, 0, `systemd-analyze verify: exit ${r.code}\n${r.stderr}`);
  assert.deepEqual(ours, [], `systemd-analyze verify complains:\n${r.stderr}`);
}));

test('cpack -G DEB: binary, conffile, web files, unit; postinst creates the sipws user; dpkg -i in a throwaway root, the daemon starts as sipws, and as a systemd service', {
  skip: noBuildDir || (!have('cpack') && 'cpack not found') ||
    (!have('dpkg-deb') && 'dpkg-deb not found (Debian package dpkg)'),
}, (t) => withScope(t, async (s) => {
  const out = makeTempDir('sipws-deb-');
  s.tempDir(out);
  ok(await run('cpack', ['-G', 'DEB', '-B', out, '--config', path.join(buildDir, 'CPackConfig.cmake')],
    { ms: 300000 }), 'cpack -G DEB');
  const debs = fs.readdirSync(out).filter((f) => f.endsWith('.deb'));
  assert.equal(debs.length, 1, `one .deb in ${fs.readdirSync(out)}`);
  const deb = path.join(out, debs[0]);
  assert.match(debs[0], /^sipws_\d+\.\d+\.\d+_[a-z0-9]+\.deb$/);

  const contents = ok(await run('dpkg-deb', ['--contents', deb]), 'dpkg-deb --contents').stdout;
  const files = new Set(contents.split('\n').map((l) => l.split(/\s+/).slice(5).join(' ')
    .replace(/ -> .*$/, '')).filter(Boolean));
  for (const f of ['./usr/bin/sipws', './etc/sipws/sipws.json',
    './usr/share/sipws/www/demo-jssip/index.html', './usr/share/sipws/www/demo-jssip/vendor/jssip.min.js',
    './lib/systemd/system/sipws.service', './usr/share/doc/sipws/docs/operations.md']) {
    assert.ok(files.has(f), `${f} in the package:\n${contents}`);
  }
  assert.ok(![...files].some((f) => f.includes('node_modules')), 'no node_modules in the package');

  const control = path.join(out, 'control');
  ok(await run('dpkg-deb', ['-e', deb, control]), 'dpkg-deb -e');
  assert.equal(fs.readFileSync(path.join(control, 'conffiles'), 'utf8').trim(), '/etc/sipws/sipws.json');
  const postinst = fs.readFileSync(path.join(control, 'postinst'), 'utf8');
  assert.match(postinst, /adduser --system --group --home \/var\/lib\/sipws/);
  assert.match(postinst, /useradd --system/);
  assert.match(postinst, /install -d -o sipws -g sipws -m 0750 \/var\/lib\/sipws/);
  for (const script of ['postinst', 'prerm', 'postrm']) {
    const st = fs.statSync(path.join(control, script));
    assert.equal(st.mode & 0o777, 0o755, `${script} mode`);
    ok(await run('sh', ['-n', path.join(control, script)]), `sh -n ${script}`);
  }
  await runPostinst(t, out, path.join(control, 'postinst'));
  const info = ok(await run('dpkg-deb', ['--field', deb, 'Package', 'Depends']), 'dpkg-deb --field').stdout;
  assert.match(info, /^Package: sipws$/m);
  for (const dep of ['adduser', 'libc6', 'libssl3', 'libsoci-sqlite3-4.0', 'libsrtp2-1']) {
    assert.match(info, new RegExp(`\\b${dep}\\b`), `Depends names ${dep}: ${info}`);
  }

  // The packaged configuration and unit say /etc, /usr/bin and /var/lib/sipws; the binary
  // accepts that configuration.
  const root = path.join(out, 'root');
  ok(await run('dpkg-deb', ['-x', deb, root]), 'dpkg-deb -x');
  const unit = fs.readFileSync(path.join(root, 'lib/systemd/system/sipws.service'), 'utf8');
  assert.match(unit, /^ExecStart=\/usr\/bin\/sipws run --config \/etc\/sipws\/sipws\.json --set state_dir=\/var\/lib\/sipws$/m);
  for (const line of ['Type=notify', 'ExecReload=/bin/kill -HUP $MAINPID', 'User=sipws',
    'StateDirectory=sipws', 'ProtectSystem=strict', 'NoNewPrivileges=yes',
    'AmbientCapabilities=CAP_NET_BIND_SERVICE']) {
    assert.ok(unit.split('\n').includes(line), `${line} in the unit`);
  }
  const packagedConfig = path.join(root, 'etc/sipws/sipws.json');
  assert.match(fs.readFileSync(packagedConfig, 'utf8'), /^\s*"state_dir": "\/var\/lib\/sipws",$/m);
  ok(await run(path.join(root, 'usr/bin/sipws'), ['check-config', packagedConfig]),
    'check-config on the packaged configuration');

  if (sanitized) {
    t.diagnostic('dpkg -i and systemd not tried: a sanitizer build (the release build does them)');
    return;
  }
  await installDebAndRun(t, s, deb,
    fs.readFileSync(path.join(root, 'usr/share/sipws/www/demo-jssip/index.html'), 'utf8'));
  await runUnderSystemd(t, s, deb);
}));
