// Live refresh: the events WebSocket of the admin listener (`/api/v1/events`, subprotocol
// `sipws-events`; the token is the first message; the server then sends
// `{"changed": ["registrations", "calls", "cdrs", "flows"]}` when collections change). While the
// socket is not open, the visible page is polled every 5 s and the socket is tried again with a
// backoff (1 s doubling to 30 s); while it is open, every 30 s all the same (the seconds left of
// a binding, the age of a flow change without an event).

const kPollMs = 5000;
const kSocketPollMs = 30000;
const kMinRetryMs = 1000;
const kMaxRetryMs = 30000;

export class Live {
  /**
   * @param {object} o
   * @param {() => string} o.token
   * @param {(changed: string[] | null) => void} o.onChange  the collections that changed, or
   *   null for "anything may have" (a poll tick, or the socket just (re)opened)
   * @param {(mode: 'socket'|'polling'|'off') => void} o.onMode
   */
  constructor({ token, onChange, onMode }) {
    this.token = token;
    this.onChange = onChange;
    this.onMode = onMode;
    this.ws = null;
    this.retryMs = kMinRetryMs;
    this.retryTimer = null;
    this.pollTimer = null;
    this.running = false;
    this.mode = 'off';
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.connect();
  }

  stop() {
    this.running = false;
    clearTimeout(this.retryTimer);
    this.stopPolling();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close();
    }
    this.setMode('off');
  }

  setMode(mode) {
    if (mode === this.mode) return;
    this.mode = mode;
    this.onMode(mode);
  }

  connect() {
    if (!this.running) return;
    const url = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/v1/events`;
    let ws;
    try {
      ws = new WebSocket(url, 'sipws-events');
    } catch {
      this.fallBack();
      return;
    }
    this.ws = ws;
    // Poll until the socket is open: the page is live either way.
    if (this.mode !== 'socket') this.startPolling(kPollMs);
    let openedAt = 0;
    ws.onopen = () => {
      openedAt = Date.now();
      ws.send(JSON.stringify({ token: this.token() }));
      this.stopPolling();
      this.setMode('socket');
      this.startPolling(kSocketPollMs);
      // Whatever changed while the socket was down.
      this.onChange(null);
    };
    ws.onmessage = (ev) => {
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (!msg || !Array.isArray(msg.changed)) return; // e.g. {"error": ...} before a close
      // A socket that took the token is a good one: the next failure retries soon again.
      this.retryMs = kMinRetryMs;
      this.onChange(msg.changed.map(String));
    };
    ws.onerror = () => {}; // onclose follows
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      // One that stayed open a while too; one closed at once (a refused token) keeps backing off.
      if (openedAt && Date.now() - openedAt > 10000) this.retryMs = kMinRetryMs;
      this.fallBack();
    };
  }

  fallBack() {
    if (!this.running) return;
    this.startPolling(kPollMs); // keeps a 5 s poll that runs already: a failed retry does not delay it
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, kMaxRetryMs);
  }

  startPolling(ms) {
    if (ms === kPollMs) this.setMode('polling');
    if (this.pollTimer && this.pollMs === ms) return;
    this.stopPolling();
    this.pollMs = ms;
    this.pollTimer = setInterval(() => {
      if (document.visibilityState !== 'hidden') this.onChange(null);
    }, ms);
  }

  stopPolling() {
    clearInterval(this.pollTimer);
    this.pollTimer = null;
  }
}
