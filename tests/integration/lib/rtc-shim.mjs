// Minimal RTCPeerConnection for JsSIP in Node (Node has no WebRTC). It moves no media: it
// answers JsSIP's calls with a fixed plain-RTP SDP (RTP/AVP, PCMU/PCMA, telephone-event, an
// address on 127.0.0.1) and accepts any remote SDP that starts with `v=0`. ICE gathering is
// reported `complete` at once, so JsSIP sends its offer/answer without waiting for candidates.
// The integration tests therefore exercise SIP signalling through sipws; media is out of scope.

let sessionCounter = 0;

/** A plain SDP for one audio stream on `port` (no socket is bound). */
export function plainSdp(port = 40000 + (sessionCounter % 1000) * 2) {
  const id = Date.now() * 1000 + sessionCounter++;
  return [
    'v=0',
    `o=- ${id} 1 IN IP4 127.0.0.1`,
    's=jssip-node',
    'c=IN IP4 127.0.0.1',
    't=0 0',
    `m=audio ${port} RTP/AVP 0 8 101`,
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:8 PCMA/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

export class RTCSessionDescription {
  constructor({ type, sdp } = {}) {
    this.type = type;
    this.sdp = sdp;
  }
  toJSON() {
    return { type: this.type, sdp: this.sdp };
  }
}

export class RTCPeerConnection extends EventTarget {
  constructor(config = {}) {
    super();
    this.config = config;
    this.localDescription = null;
    this.remoteDescription = null;
    this.signalingState = 'stable';
    this.iceGatheringState = 'complete';
    this.iceConnectionState = 'new';
    this.connectionState = 'new';
    this._closed = false;
    this._senders = [];
    this.remoteSdps = [];
  }
  _check() {
    if (this._closed) throw new Error('InvalidStateError: RTCPeerConnection is closed');
  }
  async createOffer() {
    this._check();
    return new RTCSessionDescription({ type: 'offer', sdp: plainSdp() });
  }
  async createAnswer() {
    this._check();
    if (!this.remoteDescription) throw new Error('InvalidStateError: no remote offer');
    return new RTCSessionDescription({ type: 'answer', sdp: plainSdp() });
  }
  async setLocalDescription(desc) {
    this._check();
    this.localDescription = new RTCSessionDescription(desc);
    this.signalingState = desc.type === 'offer' ? 'have-local-offer' : 'stable';
  }
  async setRemoteDescription(desc) {
    this._check();
    if (!desc || typeof desc.sdp !== 'string' || !desc.sdp.startsWith('v=0')) {
      throw new Error('OperationError: remote description is not SDP');
    }
    this.remoteDescription = new RTCSessionDescription(desc);
    this.remoteSdps.push(desc.sdp);
    this.signalingState = desc.type === 'offer' ? 'have-remote-offer' : 'stable';
  }
  addTrack(track) {
    const sender = { track, replaceTrack: async (t) => { sender.track = t; } };
    this._senders.push(sender);
    return sender;
  }
  removeTrack(sender) {
    this._senders = this._senders.filter((s) => s !== sender);
  }
  getSenders() {
    return [...this._senders];
  }
  getReceivers() {
    return [];
  }
  getTransceivers() {
    return [];
  }
  getLocalStreams() {
    return [];
  }
  getRemoteStreams() {
    return [];
  }
  async getStats() {
    return new Map();
  }
  close() {
    this._closed = true;
    this.signalingState = 'closed';
    this.iceConnectionState = 'closed';
    this.connectionState = 'closed';
  }
}

/** Installs the shim as globals (JsSIP checks `window.RTCPeerConnection`). Idempotent. */
export function installRtcShim() {
  if (typeof globalThis.window === 'undefined') globalThis.window = globalThis;
  globalThis.RTCPeerConnection = RTCPeerConnection;
  globalThis.RTCSessionDescription = RTCSessionDescription;
}
