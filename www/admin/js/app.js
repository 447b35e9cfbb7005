// sipws web admin: sign-in, hash routing between the pages (js/pages/), live refresh, theme.
// Plain ES modules, no framework, no build step. Served by the admin listener at /admin/.
//
// Test hooks: <body data-signed-in data-live data-page data-loaded data-events
// data-last-event> mirror the state (data-loaded counts the page's completed loads,
// data-events the messages of the events socket); controls carry data-testid.

import { ApiError, apiPath, createApi, describeError, loadToken, saveToken } from './api.js';
import { Live } from './live.js';
import { announce, clearError, clearMessages, confirmDialog, showError } from './ui.js';
import * as bans from './pages/bans.js';
import * as calls from './pages/calls.js';
import * as cdrs from './pages/cdrs.js';
import * as flows from './pages/flows.js';
import * as gateways from './pages/gateways.js';
import * as ladder from './pages/ladder.js';
import * as registrations from './pages/registrations.js';
import * as subscriber from './pages/subscriber.js';
import * as subscribers from './pages/subscribers.js';

const kThemeKey = 'sipwsAdmin.theme';
const kAppTitle = 'sipws admin';

/** [path pattern, page module, nav entry]; the first match wins. */
const kRoutes = [
  [/^subscribers$/, subscribers, 'subscribers'],
  [/^subscribers\/(.+)$/, subscriber, 'subscribers'],
  [/^registrations$/, registrations, 'registrations'],
  [/^flows$/, flows, 'flows'],
  [/^calls$/, calls, 'calls'],
  [/^cdrs$/, cdrs, 'cdrs'],
  [/^gateways$/, gateways, 'gateways'],
  [/^bans$/, bans, 'bans'],
  [/^ladder\/(.+)$/, ladder, null],
];
const kDefaultRoute = '#/subscribers';

const $ = (id) => document.getElementById(id);
const el = {
  body: document.body,
  signin: $('signin'),
  signinForm: $('signin-form'),
  signinToken: $('signin-token'),
  signinError: $('signin-error'),
  nav: $('sidenav'),
  page: $('page'),
  main: $('main'),
  live: $('live'),
  liveText: $('live-text'),
  reload: $('reload-config'),
  theme: $('theme-toggle'),
  signOut: $('sign-out'),
};

let token = loadToken();
let current = null; // {path, module, instance, controller}
let pendingAnnouncement = null; // said once the next page is shown
let loads = 0;

const api = createApi({ token: () => token, onAuthFailure: (status) => signOut(status) });
const live = new Live({
  token: () => token,
  onChange: (changed) => {
    if (changed) {
      el.body.dataset.events = String(Number(el.body.dataset.events || 0) + 1);
      el.body.dataset.lastEvent = changed.join(',');
    }
    refreshVisible(changed);
  },
  onMode: (mode) => showLiveMode(mode),
});

// --- sign-in ---------------------------------------------------------------------------------

function signOut(status) {
  token = '';
  saveToken('');
  live.stop();
  unmountPage();
  clearMessages();
  if (status === 401) {
    el.signinError.textContent = 'Wrong token: the server did not accept it. Sign in again.';
  } else if (status === 403) {
    el.signinError.textContent = 'The API is disabled: set admin_token in the sipws configuration.';
  } else {
    el.signinError.textContent = '';
  }
  showSignIn();
}

function showSignIn() {
  el.body.dataset.signedIn = 'false';
  el.body.dataset.page = 'signin';
  document.title = `Sign in · ${kAppTitle}`;
  el.signin.hidden = false;
  el.nav.hidden = true;
  el.reload.hidden = true;
  el.signOut.hidden = true;
  el.live.hidden = true;
  el.page.replaceChildren();
  el.signinToken.value = '';
  el.signinToken.setAttribute('aria-invalid', el.signinError.textContent ? 'true' : 'false');
  el.signinToken.focus();
}

el.signinForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const candidate = el.signinToken.value.trim();
  if (!candidate) {
    el.signinError.textContent = 'Enter the admin token.';
    el.signinToken.setAttribute('aria-invalid', 'true');
    el.signinToken.focus();
    return;
  }
  el.signinError.textContent = '';
  const submit = el.signinForm.querySelector('button[type="submit"]');
  submit.disabled = true;
  try {
    // A cheap read that needs the token (and not the store).
    await api.get(apiPath('trusted_peers'), { authToken: candidate });
    token = candidate;
    saveToken(token);
    enterApp(true);
  } catch (err) {
    let text;
    if (err instanceof ApiError && err.status === 401) text = 'Wrong token: the server did not accept it.';
    else if (err instanceof ApiError && err.status === 403) text = 'The API is disabled: set admin_token in the sipws configuration.';
    else text = describeError(err);
    el.signinError.textContent = text;
    el.signinToken.setAttribute('aria-invalid', 'true');
    el.signinToken.select();
    el.signinToken.focus();
  } finally {
    submit.disabled = false;
  }
});

el.signOut.addEventListener('click', () => {
  signOut(0);
  announce('Signed out.');
});

function enterApp(focusPage) {
  el.body.dataset.signedIn = 'true';
  el.signin.hidden = true;
  el.signinError.textContent = '';
  el.nav.hidden = false;
  el.reload.hidden = false;
  el.signOut.hidden = false;
  el.live.hidden = false;
  live.start();
  if (!location.hash || location.hash === '#' || location.hash === '#/') {
    history.replaceState(null, '', kDefaultRoute);
  }
  route(focusPage);
}

// --- routing ---------------------------------------------------------------------------------

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const q = raw.indexOf('?');
  return {
    path: q < 0 ? raw : raw.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
  };
}

function unmountPage() {
  if (!current) return;
  current.controller.abort();
  current.instance?.unmount?.();
  current = null;
}

/** Shows the page of the hash. `focusPage`: move the focus to its heading (a navigation). */
function route(focusPage) {
  if (!token) {
    showSignIn();
    return;
  }
  const { path, query } = parseHash();
  let found = null;
  for (const [re, module, nav] of kRoutes) {
    const m = re.exec(path);
    if (m) {
      found = { module, nav, params: m.slice(1).map((p) => safeDecode(p)) };
      break;
    }
  }
  if (!found) {
    history.replaceState(null, '', kDefaultRoute);
    found = { module: subscribers, nav: 'subscribers', params: [] };
  }
  // Only the query changed (search, paging, filters): the page updates itself in place.
  if (current && current.path === path && current.module === found.module && current.instance.update) {
    current.instance.update(query);
    return;
  }
  unmountPage();
  // A message belongs to the page it was said on (but for one that led here).
  clearMessages();
  if (pendingAnnouncement) announce(pendingAnnouncement);
  pendingAnnouncement = null;
  const controller = new AbortController();
  el.page.replaceChildren();
  for (const a of el.nav.querySelectorAll('a')) {
    if (a.dataset.route === found.nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  el.body.dataset.page = found.module.id;
  el.body.dataset.loaded = '0';
  loads = 0;
  const ctx = {
    root: el.page,
    params: found.params,
    query,
    api,
    signal: controller.signal,
    announce,
    showError,
    clearError,
    confirm: confirmDialog,
    setTitle: (t) => {
      document.title = `${t} · ${kAppTitle}`;
    },
    navigate: (hash, { announce: text } = {}) => {
      pendingAnnouncement = text || null;
      location.hash = hash;
    },
    loaded: () => {
      loads += 1;
      el.body.dataset.loaded = String(loads);
    },
    failed: (err) => {
      if (err && err.name === 'AbortError') return;
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return;
      showError(err);
    },
  };
  document.title = `${found.module.title} · ${kAppTitle}`;
  current = { path, module: found.module, controller, instance: null };
  current.instance = found.module.mount(ctx) || {};
  if (focusPage) {
    const heading = el.page.querySelector('h1');
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus({ preventScroll: false });
    }
  }
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

window.addEventListener('hashchange', () => route(true));

// The skip link moves the focus without touching the hash (the hash is the route).
document.querySelector('[data-skip]').addEventListener('click', (ev) => {
  ev.preventDefault();
  el.main.focus();
});

// --- live refresh ----------------------------------------------------------------------------

let refreshing = false;
let refreshAgain = false;

/** Re-fetches the visible page if it shows one of `changed` (null: any live page). */
async function refreshVisible(changed) {
  const page = current;
  if (!page || !page.instance.refresh) return;
  const wants = page.module.live || [];
  if (wants.length === 0) return;
  if (changed && !changed.some((c) => wants.includes(c))) return;
  if (refreshing) {
    refreshAgain = true;
    return;
  }
  refreshing = true;
  try {
    await page.instance.refresh(); // reports its own errors
  } finally {
    refreshing = false;
    if (refreshAgain) {
      refreshAgain = false;
      refreshVisible(null);
    }
  }
}

function showLiveMode(mode) {
  el.body.dataset.live = mode;
  el.live.dataset.mode = mode;
  el.liveText.textContent = mode === 'socket' ? 'Live updates: on'
    : mode === 'polling' ? 'Live updates: every 5 s' : 'Live updates: off';
  el.live.title = mode === 'socket' ? 'Pages refresh as soon as the server reports a change'
    : mode === 'polling' ? 'The events socket is not connected: pages are polled every 5 seconds' : '';
}

// --- reload, theme ---------------------------------------------------------------------------

el.reload.addEventListener('click', async () => {
  el.reload.disabled = true;
  try {
    const r = await api.post(apiPath('reload'));
    const restart = (r.json && r.json.restart_needed) || [];
    announce(restart.length
      ? `Configuration reloaded. Only a restart applies: ${restart.join(', ')}.`
      : 'Configuration reloaded.');
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      showError(`Reload failed, the configuration in force stays: ${err.message}`);
    } else if (!(err instanceof ApiError && (err.status === 401 || err.status === 403))) {
      showError(err);
    }
  } finally {
    el.reload.disabled = false;
  }
});

const darkQuery = window.matchMedia('(prefers-color-scheme: dark)');

function effectiveDark() {
  const t = document.documentElement.dataset.theme;
  return t ? t === 'dark' : darkQuery.matches;
}

function showTheme() {
  el.theme.setAttribute('aria-pressed', String(effectiveDark()));
}

el.theme.addEventListener('click', () => {
  const next = effectiveDark() ? 'light' : 'dark';
  document.documentElement.dataset.theme = next;
  try {
    localStorage.setItem(kThemeKey, next);
  } catch {}
  showTheme();
});
darkQuery.addEventListener('change', showTheme);
showTheme();

// --- start -----------------------------------------------------------------------------------

if (token) enterApp(false);
else showSignIn();
