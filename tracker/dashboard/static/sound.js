// Sound cues (Web Audio tones) and spoken prompts (speech synthesis), with mute and voice toggles.
//
// For tests and checks, every cue played is appended to window.hiptrackCues as {kind, t} and every text
// spoken (or that would be spoken, when the browser has no speech synthesis) to window.hiptrackSpoken;
// nothing is recorded while muted, since nothing is played. window.hiptrackAudioState() gives the
// AudioContext's state ('running', 'suspended', ... or 'none').

import { prefs } from './util.js';

const MAX_CUE_BACKLOG_S = 3;

// kind -> notes [frequency Hz, duration s, oscillator type]
const CUES = {
  start: [[523, 0.1], [784, 0.18]],
  calibrated: [[784, 0.1], [1047, 0.16]],
  rep: [[880, 0.12]],
  hold_complete: [[660, 0.1], [990, 0.22]],
  compensation: [[196, 0.16, 'square'], [196, 0.16, 'square']],
  set_done: [[523, 0.12], [659, 0.12], [784, 0.35]],
};

export function createSound({ onChange = () => {} } = {}) {
  let ctx = null;
  let nextStart = 0;
  let muted = prefs.get('muted', false);
  let voice = prefs.get('voice', false);
  const speech = 'speechSynthesis' in window ? window.speechSynthesis : null;
  const cuesPlayed = (window.hiptrackCues = []);
  const spoken = (window.hiptrackSpoken = []);
  window.hiptrackAudioState = () => (ctx ? ctx.state : 'none');

  /** Make the AudioContext: it runs at once where the browser allows sound without a gesture, and
   * otherwise waits, suspended, for unlock() from a click or key press. */
  function init() {
    const Ctor = window.AudioContext || window.webkitAudioContext;
    if (ctx || !Ctor) return;
    try {
      ctx = new Ctor();
    } catch {
      ctx = null;
      return;
    }
    ctx.onstatechange = () => onChange();
  }

  const ready = () => !!ctx && ctx.state === 'running';

  /** Call from a user gesture: resumes the AudioContext and lets speech start. */
  function unlock() {
    init();
    if (ctx && ctx.state !== 'running') ctx.resume().then(onChange, () => {});
    if (speech && voice && !muted) speech.speak(new SpeechSynthesisUtterance(''));
  }

  function tone(freq, dur, type, at) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = type;
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(type === 'sine' ? 0.5 : 0.18, at + 0.01);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + dur);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(at + dur + 0.02);
  }

  /** Play the cue for an event kind (unknown kinds have none); false if it was not played. */
  function cue(kind) {
    const notes = CUES[kind];
    if (!notes || muted || !ready()) return false;
    const now = ctx.currentTime;
    if (nextStart - now > MAX_CUE_BACKLOG_S) return false;
    let t = Math.max(now, nextStart);
    for (const [freq, dur, type = 'sine'] of notes) {
      tone(freq, dur, type, t);
      t += dur + 0.05;
    }
    nextStart = t + 0.1;
    cuesPlayed.push({ kind, t: performance.now() });
    return true;
  }

  function say(text, interrupt = false) {
    if (muted || !voice || !text) return;
    spoken.push(String(text));
    if (!speech) return;
    if (interrupt || speech.pending) speech.cancel();
    speech.speak(new SpeechSynthesisUtterance(text));
  }

  function setMuted(v) {
    muted = v;
    prefs.set('muted', v);
    if (v && speech) speech.cancel();
  }

  function setVoice(v) {
    voice = v;
    prefs.set('voice', v);
    if (!v && speech) speech.cancel();
  }

  return { init, unlock, ready, cue, say, setMuted, setVoice, isMuted: () => muted, hasVoice: () => voice };
}
