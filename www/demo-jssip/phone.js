// Phone: one JsSIP user agent and at most one call, as a small state machine for the page.
//
// It knows nothing of the DOM except the <audio> element that plays the remote party. It emits:
//   'change'  detail: state()          after every state change
//   'notice'  detail: { text, level }  a message for the user ('info' | 'error')
//   'logged'  detail: call-log entry   when a call is over
//   'incoming' detail: { peer }        when an incoming call starts ringing
//
// State (see state()):
//   ws    'disconnected' | 'connecting' | 'connected'         the WebSocket
//   reg   'unregistered' | 'registered' | 'failed'           REGISTER; regCause says why it failed
//   call  'idle' | 'calling' | 'ringing' | 'connecting' | 'in-call'
//         calling    = outgoing INVITE sent, not answered yet (remoteRinging after a 180)
//         ringing    = incoming INVITE, ringing here
//         connecting = incoming call answered here, waiting for media / the 200 to go out
//         in-call    = established (2xx); connectedAt is when it was answered

import { startRingback, startRingtone } from './tones.js';

/** Per-call media options: audio only and no external ICE servers (sipws is on the LAN). */
const kCallOptions = {
  mediaConstraints: { audio: true, video: false },
  pcConfig: { iceServers: [] },
  rtcOfferConstraints: { offerToReceiveAudio: true, offerToReceiveVideo: false },
};

/**
 * Turns what the user typed into a SIP URI: "sip:..."/"sips:..." is kept, "bob@example.com"
 * gets "sip:", a bare user ("bob", "+1 555-0100") becomes sip:user@domain.
 * @returns the URI string, or null if nothing usable was typed.
 */
export function normalizeTarget(input, domain) {
  let t = String(input || '').trim();
  if (!t) return null;
  if (/^sips?:/i.test(t)) return t;
  if (t.includes('@')) return `sip:${t}`;
  // A telephone number: drop visual separators (RFC 3966 s.5.1.1), keep digits, + * #.
  if (/^\+?[\d\s().\-*#]+$/.test(t)) t = t.replace(/[\s().\-]/g, '');
  if (/\s/.test(t)) return null;
  return `sip:${t}@${domain}`;
}

/** Display form of a SIP URI or name-addr: "bob@example.com" ("sip:" dropped). */
export function displayPeer(uri) {
  return String(uri || '').replace(/^sips?:/i, '');
}

export class Phone extends EventTarget {
  /** @param audio the <audio autoplay> element that plays the remote party. */
  constructor(JsSIP, audio) {
    super();
    this.JsSIP = JsSIP;
    this.audio = audio;
    this.ua = null;
    this.session = null;
    this.account = null; // { user, domain, uri, wsUrl }
    this.tone = null;
    this.call = null; // bookkeeping of the current call for the log
    this.s = {
      ws: 'disconnected', reg: 'unregistered', regCause: '',
      call: 'idle', direction: null, peer: null, remoteRinging: false,
      muted: false, localHold: false, remoteHold: false, connectedAt: null, lastResult: null,
    };
  }

  /** A copy of the current state (safe to keep). */
  state() {
    return { ...this.s, account: this.account ? { ...this.account } : null };
  }

  set(patch) {
    Object.assign(this.s, patch);
    this.dispatchEvent(new CustomEvent('change', { detail: this.state() }));
  }

  notice(text, level = 'info') {
    this.dispatchEvent(new CustomEvent('notice', { detail: { text, level } }));
  }

  /**
   * Creates the user agent, connects the WebSocket and registers.
   * @throws TypeError if JsSIP rejects the configuration (e.g. an invalid URI or WS URL).
   */
  start({ user, domain, password, wsUrl }) {
    this.stop();
    const { JsSIP } = this;
    const uri = `sip:${user}@${domain}`;
    const socket = new JsSIP.WebSocketInterface(wsUrl);
    const ua = new JsSIP.UA({
      uri,
      password,
      sockets: [socket],
      register: true,
      session_timers: false,
      user_agent: `sipws-demo JsSIP/${JsSIP.version}`,
    });
    this.ua = ua;
    this.account = { user, domain, uri, wsUrl };

    // Events of a UA that was stopped since are ignored (it may still report its disconnect).
    const mine = (fn) => (e) => { if (this.ua === ua) fn(e); };
    ua.on('connecting', mine(() => this.set({ ws: 'connecting' })));
    ua.on('connected', mine(() => this.set({ ws: 'connected' })));
    ua.on('disconnected', mine(() => this.set({ ws: 'disconnected' })));
    ua.on('registered', mine(() => this.set({ reg: 'registered', regCause: '' })));
    ua.on('unregistered', mine((e) => this.set({
      reg: 'unregistered', regCause: e && e.cause ? String(e.cause) : '',
    })));
    ua.on('registrationFailed', mine((e) => {
      const r = e.response;
      const cause = `${e.cause || 'Unknown'}${r ? ` (${r.status_code} ${r.reason_phrase})` : ''}`;
      this.set({ reg: 'failed', regCause: cause });
      this.dispatchEvent(new CustomEvent('regfailed', { detail: { cause: e.cause, text: cause } }));
    }));
    ua.on('newRTCSession', mine((e) => this.onNewSession(e)));

    this.set({ ws: 'connecting', reg: 'unregistered', regCause: '' });
    ua.start();
  }

  /**
   * Ends any call, unregisters and closes the WebSocket. A registration failure stays visible
   * (reg 'failed' with its cause) until the next start().
   */
  stop() {
    const ua = this.ua;
    if (!ua) return;
    if (this.session) this.hangup();
    this.ua = null;
    this.account = null;
    try {
      ua.stop();
    } catch (err) {
      console.warn('sipws demo: ua.stop()', err);
    }
    const failed = this.s.reg === 'failed';
    this.set({
      ws: 'disconnected', reg: failed ? 'failed' : 'unregistered',
      regCause: failed ? this.s.regCause : '',
    });
  }

  /** Calls `target` (already a SIP URI, see normalizeTarget). @returns false if it could not. */
  dial(target) {
    if (!this.ua || this.s.call !== 'idle') return false;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      this.notice('The microphone needs a secure page: open it over https:// or on localhost.', 'error');
      return false;
    }
    try {
      this.ua.call(target, { ...kCallOptions });
    } catch (err) {
      this.notice(`Cannot call ${target}: ${err.message}`, 'error');
      return false;
    }
    return true;
  }

  answer() {
    if (!this.session || this.s.call !== 'ringing') return;
    this.stopTone();
    this.set({ call: 'connecting' });
    try {
      this.session.answer({ ...kCallOptions });
    } catch (err) {
      this.notice(`Cannot answer: ${err.message}`, 'error');
    }
  }

  /** Declines a ringing incoming call (486 Busy Here would mean "busy"; 603 means "declined"). */
  reject() {
    if (!this.session || this.s.call !== 'ringing') return;
    this.call.rejected = true;
    this.terminate({ status_code: 603, reason_phrase: 'Decline' });
  }

  /** Cancels, rejects or ends the current call, whatever its state. */
  hangup() {
    if (!this.session) return;
    if (this.s.call === 'ringing') this.call.rejected = true;
    this.terminate();
  }

  terminate(options) {
    try {
      this.session.terminate(options);
    } catch (err) {
      // Already terminated: JsSIP throws INVALID_STATE_ERROR; the session events follow anyway.
      console.warn('sipws demo: terminate()', err);
    }
  }

  /** Mutes/unmutes the microphone: JsSIP flips the enabled flag of the local audio track. */
  toggleMute() {
    if (!this.session || this.s.call !== 'in-call') return;
    if (this.session.isMuted().audio) this.session.unmute({ audio: true });
    else this.session.mute({ audio: true });
  }

  /** Puts the call on hold / resumes it (re-INVITE with a=sendonly / a=sendrecv). */
  toggleHold() {
    if (!this.session || this.s.call !== 'in-call') return;
    const ok = this.session.isOnHold().local ? this.session.unhold() : this.session.hold();
    if (!ok) this.notice('Hold is not possible right now (a re-INVITE is in progress).', 'error');
  }

  /**
   * Sends one DTMF digit in the RTP stream (RFC 4733 via RTCRtpSender.dtmf).
   * @returns true if it was queued.
   */
  sendDtmf(tone) {
    if (!this.session || this.s.call !== 'in-call') return false;
    const pc = this.session.connection;
    const sender = pc && pc.getSenders().find((s) => s.track && s.track.kind === 'audio');
    if (!sender || !sender.dtmf || !sender.dtmf.canInsertDTMF) {
      this.notice('DTMF is not available: the peer did not negotiate telephone-event.', 'error');
      return false;
    }
    try {
      this.session.sendDTMF(tone, { transportType: 'RFC2833', duration: 100, interToneGap: 70 });
      return true;
    } catch (err) {
      this.notice(`DTMF failed: ${err.message}`, 'error');
      return false;
    }
  }

  /** The current call's RTCPeerConnection, or null (no call, or not created yet). */
  peerConnection() {
    return this.session && this.session.connection ? this.session.connection : null;
  }

  /**
   * A summary of the current call's WebRTC statistics (getStats()), or null without a peer
   * connection: { connectionState, iceConnectionState, dtlsState, inbound: { packetsReceived,
   * bytesReceived, packetsLost, jitter, codec }, outbound: { packetsSent, bytesSent, codec },
   * candidatePair: { local, remote } } ("ip:port protocol type"). Audio only; counters are 0
   * until the first packet.
   */
  async mediaStats() {
    const pc = this.peerConnection();
    if (!pc) return null;
    const report = await pc.getStats();
    const byId = new Map();
    report.forEach((r) => byId.set(r.id, r));
    const codec = (r) => {
      const c = r && r.codecId ? byId.get(r.codecId) : null;
      return c ? `${c.mimeType.replace(/^audio\//, '')}/${c.clockRate}` : null;
    };
    const cand = (id) => {
      const c = byId.get(id);
      return c ? `${c.address || c.ip}:${c.port} ${c.protocol} ${c.candidateType}` : null;
    };
    const out = {
      connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState,
      dtlsState: null,
      inbound: { packetsReceived: 0, bytesReceived: 0, packetsLost: 0, jitter: 0, codec: null },
      outbound: { packetsSent: 0, bytesSent: 0, codec: null },
      candidatePair: null,
    };
    report.forEach((r) => {
      if (r.type === 'inbound-rtp' && r.kind === 'audio') {
        out.inbound = {
          packetsReceived: r.packetsReceived || 0, bytesReceived: r.bytesReceived || 0,
          packetsLost: r.packetsLost || 0, jitter: r.jitter || 0, codec: codec(r),
        };
      } else if (r.type === 'outbound-rtp' && r.kind === 'audio') {
        out.outbound = { packetsSent: r.packetsSent || 0, bytesSent: r.bytesSent || 0, codec: codec(r) };
      } else if (r.type === 'transport') {
        out.dtlsState = r.dtlsState || null;
        const pair = r.selectedCandidatePairId ? byId.get(r.selectedCandidatePairId) : null;
        if (pair) out.candidatePair = { local: cand(pair.localCandidateId), remote: cand(pair.remoteCandidateId) };
      }
    });
    return out;
  }

  onNewSession({ session, originator, request }) {
    const peer = session.remote_identity.uri.toString();
    if (this.session) {
      // One call at a time: a second incoming call gets 486 Busy Here.
      if (originator === 'remote') {
        session.terminate({ status_code: 486, reason_phrase: 'Busy Here' });
        this.log({ direction: 'in', peer, start: Date.now(), duration: 0, result: 'busy (in a call)' });
      }
      return;
    }
    const incoming = originator === 'remote';
    this.session = session;
    this.call = { direction: incoming ? 'in' : 'out', peer, start: Date.now(), rejected: false };

    if (session.connection) this.attachPeerConnection(session.connection);
    else session.on('peerconnection', (e) => this.attachPeerConnection(e.peerconnection));

    const own = (fn) => (e) => { if (this.session === session) fn(e); };
    session.on('progress', own((e) => {
      if (!incoming && e.response && e.response.status_code === 180) {
        this.set({ remoteRinging: true });
        if (!this.tone) this.tone = startRingback();
      }
      if (!incoming && e.response && e.response.status_code === 183) this.stopTone(); // early media
    }));
    session.on('accepted', own(() => {
      this.stopTone();
      this.set({ call: 'in-call', connectedAt: Date.now(), remoteRinging: false });
    }));
    session.on('ended', own((e) => this.finish(e, true)));
    session.on('failed', own((e) => this.finish(e, false)));
    session.on('muted', own(() => this.set({ muted: true })));
    session.on('unmuted', own(() => this.set({ muted: false })));
    const hold = () => {
      const h = session.isOnHold();
      this.set({ localHold: h.local, remoteHold: h.remote });
    };
    session.on('hold', own(hold));
    session.on('unhold', own(hold));
    session.on('getusermediafailed', own((err) => {
      this.notice(`Microphone unavailable: ${err && err.message ? err.message : err}`, 'error');
    }));
    session.on('peerconnection:setremotedescriptionfailed', own((err) => {
      this.notice(`The peer's SDP was refused: ${err && err.message ? err.message : err}`, 'error');
    }));

    this.set({
      call: incoming ? 'ringing' : 'calling', direction: this.call.direction, peer,
      remoteRinging: false, muted: false, localHold: false, remoteHold: false, connectedAt: null,
    });
    if (incoming) {
      this.tone = startRingtone();
      const from = session.remote_identity.display_name;
      this.dispatchEvent(new CustomEvent('incoming', {
        detail: { peer, displayName: from || '', request },
      }));
    }
  }

  /** Plays the remote audio track(s) of `pc` in the <audio> element. */
  attachPeerConnection(pc) {
    const play = (stream) => {
      if (this.audio.srcObject !== stream) this.audio.srcObject = stream;
      this.audio.play().catch(() => {}); // autoplay policy: the answer/call click allows it
    };
    pc.addEventListener('track', (e) => {
      if (e.track.kind !== 'audio') return;
      play(e.streams && e.streams[0] ? e.streams[0] : new MediaStream([e.track]));
    });
  }

  /** Session over (`ended` after an answer, `failed` before): logs it and goes back to idle. */
  finish(e, wasAnswered) {
    const c = this.call;
    const now = Date.now();
    const duration = this.s.connectedAt ? Math.round((now - this.s.connectedAt) / 1000) : 0;
    const result = wasAnswered ? endResult(e) : failResult(e, c, this.JsSIP.C.causes);
    this.stopTone();
    this.session = null;
    this.call = null;
    this.audio.srcObject = null;
    this.log({ direction: c.direction, peer: c.peer, start: c.start, duration, result });
    this.set({
      call: 'idle', direction: null, peer: null, remoteRinging: false, muted: false,
      localHold: false, remoteHold: false, connectedAt: null,
      lastResult: { peer: c.peer, result, duration },
    });
  }

  log(entry) {
    this.dispatchEvent(new CustomEvent('logged', { detail: entry }));
  }

  stopTone() {
    if (this.tone) this.tone.stop();
    this.tone = null;
  }
}

function endResult(e) {
  const causes = ['Terminated', 'BYE'];
  return !e.cause || causes.includes(e.cause) ? 'answered' : `answered, ended: ${e.cause}`;
}

function failResult(e, call, C) {
  const code = e.message && e.message.status_code ? ` ${e.message.status_code}` : '';
  if (call.direction === 'in') {
    if (call.rejected) return 'rejected';
    if (e.cause === C.CANCELED || e.cause === C.NO_ANSWER) return 'missed';
  } else {
    if (e.cause === C.CANCELED && e.originator === 'local') return 'cancelled';
    if (e.cause === C.BUSY) return `busy${code}`;
    if (e.cause === C.REJECTED) return `rejected${code}`;
    if (e.cause === C.NO_ANSWER) return 'no answer';
  }
  return `failed: ${e.cause || 'unknown'}${code}`;
}
