// sipws demo phone: wires the page to a Phone (phone.js). Plain ES module, no framework.
//
// Test hooks: every control and state field has a data-testid (see README.md); <body> mirrors
// the states in data-ws-state / data-reg-state / data-call-state; window.sipwsDemo exposes
// { ua, session, pc, stats(), phone, state(), login(), dial(), answer(), hangup() }.

import { addEntry, clearLog, loadLog } from './calllog.js';
import { Phone, displayPeer, normalizeTarget } from './phone.js';
import { keyTone, unlockAudio } from './tones.js';

const kPrefsKey = 'sipwsDemo.account'; // { user, domain, ws? } - never the password
const kTitle = document.title;

const $ = (id) => document.getElementById(id);
const el = {
  body: document.body,
  wsPill: document.querySelector('[data-testid="ws-state"]'),
  wsText: document.querySelector('[data-testid="ws-state-text"]'),
  regPill: document.querySelector('[data-testid="reg-state"]'),
  regText: document.querySelector('[data-testid="reg-state-text"]'),
  regCause: document.querySelector('[data-testid="reg-cause"]'),
  identity: document.querySelector('[data-testid="identity"]'),
  identityAor: document.querySelector('[data-testid="identity-aor"]'),
  logout: $('logout'),
  notice: $('notice'),
  login: $('login'),
  loginForm: $('login-form'),
  loginUser: $('login-user'),
  loginDomain: $('login-domain'),
  loginPassword: $('login-password'),
  loginWs: $('login-ws'),
  loginError: $('login-error'),
  phone: $('phone'),
  callPanel: document.querySelector('[data-testid="call-panel"]'),
  callState: document.querySelector('[data-testid="call-state"]'),
  callPeer: document.querySelector('[data-testid="call-peer"]'),
  callTimer: document.querySelector('[data-testid="call-timer"]'),
  callFlags: document.querySelector('[data-testid="call-flags"]'),
  incoming: $('incoming'),
  incomingCaller: document.querySelector('[data-testid="incoming-caller"]'),
  answer: $('answer'),
  reject: $('reject'),
  dialForm: $('dial-form'),
  target: $('dial-target'),
  backspace: $('backspace'),
  dialHintDomain: $('dial-hint-domain'),
  dialpad: document.querySelector('[data-testid="dialpad"]'),
  call: $('call'),
  hangup: $('hangup'),
  inCallControls: $('in-call-controls'),
  mute: $('mute'),
  hold: $('hold'),
  logList: $('call-log'),
  logEmpty: $('log-empty'),
  clearLog: $('clear-log'),
  announcer: $('announcer'),
  audio: $('remote-audio'),
  jssipVersion: $('jssip-version'),
  wsUrl: $('ws-url'),
};

/** The WebSocket of the server that served the page: wss:// over https, ws:// otherwise. */
function defaultWsUrl() {
  const override = new URLSearchParams(location.search).get('ws');
  if (override) return override;
  if (!location.host) return 'ws://127.0.0.1:8080'; // opened from file://
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
}

/**
 * The default SIP domain: the page's host name, except an IP literal or an empty host (file://),
 * where sipws' default domain "localhost" is the better guess.
 */
function defaultDomain() {
  const host = location.hostname;
  const isIp = /^[\d.]+$/.test(host) || host.includes(':') || host.startsWith('[');
  return host && !isIp ? host : 'localhost';
}

function loadPrefs() {
  try {
    const p = JSON.parse(localStorage.getItem(kPrefsKey) || '{}');
    return p && typeof p === 'object' ? p : {};
  } catch {
    return {};
  }
}

function savePrefs(prefs) {
  try {
    localStorage.setItem(kPrefsKey, JSON.stringify(prefs));
  } catch {
    // storage disabled: nothing remembered
  }
}

// ---------------------------------------------------------------------------------------------
// Messages

let announceTimer = null;
/** Says `text` to screen readers (assertive live region). */
function announce(text) {
  el.announcer.textContent = '';
  clearTimeout(announceTimer);
  // A new text node after a tick, so that repeating the same message is announced again.
  announceTimer = setTimeout(() => { el.announcer.textContent = text; }, 50);
}

function showNotice(text, level = 'info') {
  el.notice.textContent = text;
  el.notice.classList.toggle('notice-error', level === 'error');
  el.notice.hidden = !text;
}

// ---------------------------------------------------------------------------------------------
// Rendering

const kCallLabels = {
  idle: 'Ready',
  calling: 'Calling…',
  ringing: 'Incoming call',
  connecting: 'Connecting…',
  'in-call': 'In call',
};

let timer = null;

function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function renderTimer(st) {
  el.callTimer.textContent = formatDuration((Date.now() - st.connectedAt) / 1000);
}

/**
 * Notes where focus must go if it sits inside `hiddenEl`, which render() is about to hide;
 * render() moves it once the fallback is visible.
 */
let focusMoves = [];
function keepFocus(hiddenEl, fallback) {
  if (hiddenEl.contains(document.activeElement)) focusMoves.push(fallback);
}

let previous = null;

/** What the idle phone can do: connection and registration first, then the last call's end. */
function idleLabel(st) {
  if (st.ws === 'disconnected') return 'Not connected to the server (retrying)';
  if (st.ws === 'connecting') return 'Connecting…';
  if (st.lastResult) return `Call ended: ${st.lastResult.result}`;
  if (st.reg === 'failed') return 'Not registered: incoming calls cannot reach you';
  if (st.reg !== 'registered') return 'Registering…';
  return 'Ready';
}

function render(st) {
  const prev = previous || {};
  previous = st;

  // Top bar: always visible.
  el.body.dataset.wsState = st.ws;
  el.body.dataset.regState = st.reg;
  el.body.dataset.callState = st.call;
  el.wsPill.dataset.state = st.ws;
  el.wsText.textContent = st.ws;
  el.regPill.dataset.state = st.reg;
  el.regText.textContent = st.reg;
  el.regCause.textContent = st.reg === 'failed' || st.regCause ? st.regCause : '';

  const signedIn = Boolean(st.account);
  el.identity.hidden = !signedIn;
  el.identityAor.textContent = signedIn ? `${st.account.user}@${st.account.domain}` : '';
  el.wsUrl.textContent = signedIn ? `WebSocket: ${st.account.wsUrl}` : '';
  if (signedIn) el.dialHintDomain.textContent = `user@${st.account.domain}`;
  if (!signedIn) keepFocus(el.phone, el.loginUser);
  el.login.hidden = signedIn;
  el.phone.hidden = !signedIn;

  // Call panel.
  const call = st.call;
  el.callPanel.dataset.state = call;
  el.callState.dataset.state = call;
  let label = kCallLabels[call] || call;
  if (call === 'calling' && st.remoteRinging) label = 'Ringing…';
  if (call === 'idle') label = idleLabel(st);
  el.callState.textContent = label;
  el.callPeer.textContent = st.peer ? displayPeer(st.peer) :
      (call === 'idle' && st.lastResult ? displayPeer(st.lastResult.peer) : '');
  const flags = [];
  if (st.localHold) flags.push('On hold');
  if (st.remoteHold) flags.push('Held by the other party');
  if (st.muted) flags.push('Microphone muted');
  el.callFlags.textContent = flags.join(' · ');

  el.callTimer.hidden = call !== 'in-call';
  if (call === 'in-call' && !timer) {
    renderTimer(st);
    timer = setInterval(() => renderTimer(phone.state()), 1000);
  } else if (call !== 'in-call' && timer) {
    clearInterval(timer);
    timer = null;
  }

  // Incoming call.
  const ringing = call === 'ringing';
  const active = call === 'calling' || call === 'connecting' || call === 'in-call';
  if (!ringing) keepFocus(el.incoming, active ? el.hangup : el.target);
  el.incoming.hidden = !ringing;
  el.callPanel.hidden = ringing; // the incoming box takes its place
  el.incomingCaller.textContent = ringing ? incomingCaller : '';
  document.title = ringing ? `Incoming call – ${kTitle}` : kTitle;

  // Controls.
  const idle = call === 'idle';
  if (!idle) keepFocus(el.call, active ? el.hangup : el.answer);
  if (!active) keepFocus(el.hangup, el.target);
  el.call.hidden = !idle;
  el.call.disabled = !(st.ws === 'connected');
  el.hangup.hidden = !active;
  el.hangup.textContent = call === 'calling' ? 'Cancel' : 'Hang up';
  if (call !== 'in-call') keepFocus(el.inCallControls, active ? el.hangup : el.target);
  el.inCallControls.hidden = call !== 'in-call';
  el.mute.setAttribute('aria-pressed', String(st.muted));
  el.mute.textContent = st.muted ? 'Unmute' : 'Mute';
  el.hold.setAttribute('aria-pressed', String(st.localHold));
  el.hold.textContent = st.localHold ? 'Resume' : 'Hold';
  el.target.readOnly = !idle;
  // The number field is for dialling: during a call the panel names the peer, and the dial pad
  // (or the keyboard) sends DTMF. Hiding it keeps Hang up on the first screen of a phone.
  if (!idle) keepFocus(el.dialForm, active ? el.hangup : el.answer);
  el.dialForm.hidden = !idle;
  syncRedial(st);

  const moves = focusMoves;
  focusMoves = [];
  const target = moves.find((m) => m.offsetParent !== null);
  if (target) target.focus();

  // Announcements of changes (the status pills announce themselves: role=status).
  if (prev.call && prev.call !== call) {
    if (call === 'calling') announce(`Calling ${displayPeer(st.peer)}`);
    else if (call === 'in-call') announce(`Connected to ${displayPeer(st.peer)}`);
    else if (call === 'idle' && st.lastResult) announce(`Call ended: ${st.lastResult.result}`);
  }
  if (prev.call === 'calling' && call === 'calling' && st.remoteRinging && !prev.remoteRinging) {
    announce('Ringing');
  }
  if (prev.localHold !== undefined && prev.localHold !== st.localHold) {
    announce(st.localHold ? 'Call on hold' : 'Call resumed');
  }
  if (prev.muted !== undefined && prev.muted !== st.muted) {
    announce(st.muted ? 'Microphone muted' : 'Microphone on');
  }
}

/** "Call again" works only when signed in, connected and idle. */
function syncRedial(st) {
  const can = Boolean(st && st.account) && st.ws === 'connected' && st.call === 'idle';
  for (const b of el.logList.querySelectorAll('[data-testid="call-log-redial"]')) b.disabled = !can;
}

function renderLog(entries) {
  el.logList.replaceChildren(...entries.map((e) => {
    const li = document.createElement('li');
    li.dataset.testid = 'call-log-entry';
    li.dataset.direction = e.direction;
    li.dataset.result = e.result;

    const dir = document.createElement('span');
    dir.className = 'log-dir';
    dir.textContent = e.direction === 'in' ? '↙' : '↗';
    dir.setAttribute('role', 'img');
    dir.setAttribute('aria-label', e.direction === 'in' ? 'Incoming' : 'Outgoing');

    const peer = document.createElement('span');
    peer.className = 'log-peer';
    peer.textContent = displayPeer(e.peer);

    const meta = document.createElement('span');
    meta.className = 'log-meta';
    const when = new Date(e.start);
    const time = document.createElement('time');
    time.dateTime = when.toISOString();
    time.textContent = when.toLocaleString(undefined, {
      month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    });
    const result = document.createElement('span');
    result.textContent = e.result;
    if (!/^answered/.test(e.result)) result.className = 'log-result-bad';
    meta.append(time, ` · ${e.duration ? formatDuration(e.duration) : '—'} · `, result);

    const again = document.createElement('button');
    again.type = 'button';
    again.className = 'btn btn-small log-again';
    again.textContent = 'Call';
    again.setAttribute('aria-label', `Call ${displayPeer(e.peer)}`);
    again.dataset.testid = 'call-log-redial';
    again.addEventListener('click', () => {
      el.target.value = e.peer;
      dial();
    });

    li.append(dir, peer, meta, again);
    return li;
  }));
  el.logEmpty.hidden = entries.length > 0;
  el.clearLog.disabled = entries.length === 0;
  syncRedial(phone ? phone.state() : null);
}

// ---------------------------------------------------------------------------------------------
// Actions

let phone = null;
let incomingCaller = '';

/** True if the page came from a server that may have the session endpoints (not file://). */
function servedOverHttp() {
  return Boolean(location.host) && /^https?:$/.test(location.protocol);
}

/**
 * WebSocket handshake auth (RFC 7118 s.7): asks the server that served the page for a session
 * cookie (POST /login, same origin), which the browser then presents on the WebSocket upgrade.
 * Resolves true to go on: 200, or 404/405 (sipws runs with ws_auth=off: no endpoint), or no
 * server to ask (file://, network error: JsSIP reports the connection itself). Resolves false
 * after showing why not (401 wrong password, 429 too many attempts, anything else).
 */
async function sessionLogin(user, domain, password) {
  if (!servedOverHttp()) return true;
  let res;
  try {
    res = await fetch('/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user: `${user}@${domain}`, password }),
    });
  } catch {
    return true;
  }
  if (res.ok || res.status === 404 || res.status === 405) return true;
  if (res.status === 401) {
    loginError('Wrong user or password.');
  } else if (res.status === 429) {
    const wait = res.headers.get('Retry-After');
    loginError(`Too many failed sign-ins. Try again in ${wait ? `${wait} seconds` : 'a while'}.`);
  } else {
    loginError(`The server refused the sign-in (HTTP ${res.status}).`);
  }
  return false;
}

/** Drops the session cookie (POST /logout); errors and a missing endpoint are ignored. */
function sessionLogout() {
  if (!servedOverHttp()) return;
  fetch('/logout', { method: 'POST', credentials: 'same-origin' }).catch(() => {});
}

/** Signs in: the session cookie first (if the server has the endpoint), then JsSIP. */
async function login({ user, domain, password, ws }) {
  user = String(user || '').trim();
  domain = String(domain || '').trim() || defaultDomain();
  // "alice@example.com" typed as the user: split it.
  const at = user.indexOf('@');
  if (at > 0) {
    domain = user.slice(at + 1);
    user = user.slice(0, at);
  }
  const wsUrl = String(ws || '').trim() || defaultWsUrl();
  if (!(await sessionLogin(user, domain, password))) return false;
  phone.start({ user, domain, password, wsUrl });
  const prefs = { user, domain };
  if (wsUrl !== defaultWsUrl()) prefs.ws = wsUrl;
  savePrefs(prefs);
  return true;
}

async function onLoginSubmit(ev) {
  ev.preventDefault();
  unlockAudio();
  const fields = [el.loginUser, el.loginDomain, el.loginPassword];
  let firstBad = null;
  for (const f of fields) {
    const bad = !f.value.trim();
    f.setAttribute('aria-invalid', String(bad));
    if (bad && !firstBad) firstBad = f;
  }
  if (firstBad) {
    loginError(`Please enter the ${firstBad.labels[0].textContent.toLowerCase()}.`);
    firstBad.focus();
    return;
  }
  loginError('');
  showNotice('');
  const submit = el.loginForm.querySelector('[type="submit"]');
  submit.disabled = true;
  let started = false;
  try {
    started = await login({
      user: el.loginUser.value, domain: el.loginDomain.value,
      password: el.loginPassword.value, ws: el.loginWs.value,
    });
  } catch (err) {
    loginError(`Cannot start: ${err.message}`);
    return;
  } finally {
    submit.disabled = false;
  }
  if (!started) {
    el.loginPassword.focus();
    return;
  }
  el.loginPassword.value = '';
  el.target.focus();
}

function loginError(text) {
  el.loginError.textContent = text;
  el.loginError.hidden = !text;
}

function dial() {
  const st = phone.state();
  if (!st.account || st.call !== 'idle') return;
  const target = normalizeTarget(el.target.value, st.account.domain);
  if (!target) {
    el.target.setAttribute('aria-invalid', 'true');
    showNotice('Enter a number, a user or a SIP address to call.', 'error');
    el.target.focus();
    return;
  }
  el.target.removeAttribute('aria-invalid');
  showNotice('');
  unlockAudio();
  phone.dial(target);
}

function pressKey(key) {
  const call = phone.state().call;
  if (call === 'in-call') {
    if (phone.sendDtmf(key)) keyTone(key);
    return;
  }
  if (call !== 'idle') return;
  keyTone(key);
  const t = el.target;
  const start = t.selectionStart ?? t.value.length;
  const end = t.selectionEnd ?? t.value.length;
  t.value = t.value.slice(0, start) + key + t.value.slice(end);
  t.setSelectionRange(start + 1, start + 1);
}

function backspace() {
  if (phone.state().call !== 'idle') return;
  const t = el.target;
  const start = t.selectionStart ?? t.value.length;
  const end = t.selectionEnd ?? t.value.length;
  const from = start === end ? Math.max(0, start - 1) : start;
  t.value = t.value.slice(0, from) + t.value.slice(end);
  t.setSelectionRange(from, from);
  t.focus();
}

// ---------------------------------------------------------------------------------------------
// Start-up

function fatal(text) {
  showNotice(text, 'error');
  el.loginForm.querySelector('[type="submit"]').disabled = true;
  console.error(`sipws demo: ${text}`);
}

function main() {
  const JsSIP = window.JsSIP;
  renderLog(loadLog());
  const prefs = loadPrefs();
  el.loginUser.value = typeof prefs.user === 'string' ? prefs.user : '';
  el.loginDomain.value = typeof prefs.domain === 'string' && prefs.domain ? prefs.domain : defaultDomain();
  el.loginWs.value = typeof prefs.ws === 'string' && prefs.ws ? prefs.ws : defaultWsUrl();

  if (!JsSIP) {
    fatal('JsSIP is missing: run www/demo-jssip/build.sh to create vendor/jssip.min.js.');
    return;
  }
  el.jssipVersion.textContent = `JsSIP ${JsSIP.version}.`;
  if (new URLSearchParams(location.search).has('debug')) JsSIP.debug.enable('JsSIP:*');
  else JsSIP.debug.disable();

  phone = new Phone(JsSIP, el.audio);
  phone.addEventListener('change', (e) => render(e.detail));
  phone.addEventListener('notice', (e) => showNotice(e.detail.text, e.detail.level));
  phone.addEventListener('logged', (e) => renderLog(addEntry(e.detail)));
  phone.addEventListener('incoming', (e) => {
    const { peer, displayName } = e.detail;
    incomingCaller = displayName ? `${displayName} <${displayPeer(peer)}>` : displayPeer(peer);
    render(phone.state());
    announce(`Incoming call from ${incomingCaller}`);
    el.answer.focus();
  });
  phone.addEventListener('regfailed', (e) => {
    const { causes } = JsSIP.C;
    if (e.detail.cause !== causes.AUTHENTICATION_ERROR && e.detail.cause !== causes.REJECTED) return;
    // Wrong user or password: back to the form, keeping the failure visible in the top bar.
    // (Deferred: JsSIP is still inside its own event dispatch.)
    queueMicrotask(() => {
      phone.stop();
      loginError(`Registration refused: ${e.detail.text}. Check the user and password.`);
      el.loginPassword.focus();
    });
  });

  el.loginForm.addEventListener('submit', onLoginSubmit);
  el.logout.addEventListener('click', () => {
    phone.stop();
    sessionLogout();
    showNotice('');
    el.loginPassword.focus();
  });
  el.dialForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    dial();
  });
  el.target.addEventListener('input', () => el.target.removeAttribute('aria-invalid'));
  el.answer.addEventListener('click', () => { unlockAudio(); phone.answer(); });
  el.reject.addEventListener('click', () => phone.reject());
  el.hangup.addEventListener('click', () => phone.hangup());
  el.mute.addEventListener('click', () => phone.toggleMute());
  el.hold.addEventListener('click', () => phone.toggleHold());
  el.backspace.addEventListener('click', backspace);
  el.dialpad.addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-key]');
    if (b) pressKey(b.dataset.key);
  });
  el.clearLog.addEventListener('click', () => {
    renderLog(clearLog());
    announce('Call log cleared');
  });

  // During a call, typing 0-9 * # A-D anywhere outside a text field sends DTMF.
  document.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
    if (phone.state().call !== 'in-call') return;
    if (ev.target instanceof HTMLInputElement && !ev.target.readOnly) return;
    if (/^[0-9*#A-Da-d]$/.test(ev.key)) {
      ev.preventDefault();
      if (phone.sendDtmf(ev.key.toUpperCase())) keyTone(ev.key);
    }
  });

  window.addEventListener('beforeunload', () => phone.stop());

  render(phone.state());
  if (el.loginUser.value) el.loginPassword.focus();
}

/** Test and console hook: the live UA and session and the page state. */
window.sipwsDemo = {
  get JsSIP() { return window.JsSIP; },
  get phone() { return phone; },
  get ua() { return phone ? phone.ua : null; },
  get session() { return phone ? phone.session : null; },
  /** The current call's RTCPeerConnection (null when there is none). */
  get pc() { return phone ? phone.peerConnection() : null; },
  /** The current call's media statistics (see Phone.mediaStats), or null. */
  stats: () => (phone ? phone.mediaStats() : Promise.resolve(null)),
  state() {
    return phone ? phone.state() : { ws: 'disconnected', reg: 'unregistered', call: 'idle' };
  },
  login: (opts) => login(opts),
  dial(target) {
    el.target.value = target;
    dial();
  },
  answer: () => phone.answer(),
  reject: () => phone.reject(),
  hangup: () => phone.hangup(),
  logout: () => {
    phone.stop();
    sessionLogout();
  },
};

main();
