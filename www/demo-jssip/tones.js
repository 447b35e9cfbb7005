// Generated tones (WebAudio): the incoming-call ringtone, the outgoing ringback and a short
// local feedback for dial-pad keys. No audio files.
//
// Browsers start an AudioContext suspended until a user gesture: call unlockAudio() from a click
// or key handler (sign-in does) so that a later incoming call can ring.

/** DTMF row/column frequencies in Hz (ITU-T Q.23). */
const kDtmf = {
  1: [697, 1209], 2: [697, 1336], 3: [697, 1477], A: [697, 1633],
  4: [770, 1209], 5: [770, 1336], 6: [770, 1477], B: [770, 1633],
  7: [852, 1209], 8: [852, 1336], 9: [852, 1477], C: [852, 1633],
  '*': [941, 1209], 0: [941, 1336], '#': [941, 1477], D: [941, 1633],
};

let context = null;

function audioContext() {
  if (!context) {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (!Ctor) return null;
    context = new Ctor();
  }
  if (context.state === 'suspended') context.resume().catch(() => {});
  return context;
}

/** Creates (or resumes) the shared AudioContext. Call from a user gesture. */
export function unlockAudio() {
  audioContext();
}

/**
 * Plays the sum of sine waves `freqs` (Hz) from `at` for `seconds` (AudioContext time), with short
 * ramps so that it does not click.
 */
function burst(ac, freqs, at, seconds, level) {
  const gain = ac.createGain();
  gain.gain.setValueAtTime(0, at);
  gain.gain.linearRampToValueAtTime(level, at + 0.015);
  gain.gain.setValueAtTime(level, at + seconds - 0.015);
  gain.gain.linearRampToValueAtTime(0, at + seconds);
  gain.connect(ac.destination);
  for (const f of freqs) {
    const osc = ac.createOscillator();
    osc.type = 'sine';
    osc.frequency.value = f;
    osc.connect(gain);
    osc.start(at);
    osc.stop(at + seconds);
    osc.onended = () => osc.disconnect();
  }
  setTimeout(() => gain.disconnect(), (at - ac.currentTime + seconds) * 1000 + 100);
}

/**
 * A cadence repeated every `period` seconds until stop(): `pattern` is a list of [offset, length]
 * in seconds within one period.
 */
class Cadence {
  constructor(freqs, pattern, period, level) {
    this.timer = null;
    const ac = audioContext();
    if (!ac) return;
    const play = () => {
      const t0 = ac.currentTime + 0.02;
      for (const [offset, length] of pattern) burst(ac, freqs, t0 + offset, length, level);
    };
    play();
    this.timer = setInterval(play, period * 1000);
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Incoming-call ringtone: two short warbles every 3 s. @returns an object with stop(). */
export function startRingtone() {
  return new Cadence([440, 480], [[0, 0.4], [0.6, 0.4]], 3, 0.12);
}

/** Ringback while the callee's phone rings (425 Hz, 1 s on / 4 s off). @returns {stop()}. */
export function startRingback() {
  return new Cadence([425], [[0, 1]], 5, 0.06);
}

/** Short local feedback for a dial-pad key (the DTMF pair, 90 ms). */
export function keyTone(key) {
  const freqs = kDtmf[String(key).toUpperCase()];
  const ac = freqs && audioContext();
  if (ac) burst(ac, freqs, ac.currentTime + 0.01, 0.09, 0.05);
}
