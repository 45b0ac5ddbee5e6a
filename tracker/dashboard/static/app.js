// hiptrack's live dashboard: the entry point. Receives state snapshots over the WebSocket, plays the
// cues of their events, and draws the newest snapshot once per animation frame.

import { createConnection } from './connection.js';
import { createDial, createHoldRing, displayFrame, holdInfo } from './dial.js';
import { createAlerts, createPain, createStatus, renderControls, renderCounts } from './panels.js';
import { createSensors } from './sensors.js';
import { createSound } from './sound.js';
import { createStartPanel } from './start.js';
import { createSummary } from './summary.js';
import { createTrace } from './trace.js';
import { $, fmtDeg, legText, setText, show, startPrompt } from './util.js';

const view = {
  latest: null, dirty: false, link: 'connecting', lastEvent: '', lastPrompt: null, lastStartPrompt: null,
  hadSummary: false, legKey: null,
};
const sound = createSound({ onChange: renderToggles });
const status = createStatus();
const conn = createConnection({ onMessage: receive, onStatus: (s) => { view.link = s; } });
const updateDial = createDial();
const updateHold = createHoldRing();
const trace = createTrace($('trace'));
const renderAlerts = createAlerts();
const renderSensors = createSensors();
const renderSummary = createSummary();
const renderPain = createPain({ latest: () => view.latest, send: conn.send, flash: status.flash });
const start = createStartPanel({ send: conn.send, onGesture: userGesture });

function receive(msg, firstOnConnection) {
  if (!msg) return;
  if (msg.type === 'error') {
    status.flash(`error: ${msg.message || 'rejected'}`);
    start.refused(msg.message || 'The session did not start.');
  } else if (msg.type === 'ack') {
    if (msg.command === 'start') sound.cue('start');
  } else if (msg.type === 'state') {
    followLegs(msg);
    handleEvents(msg, firstOnConnection);
    view.latest = msg;
    view.dirty = true;
  }
}

/** A new leg (or the live state after a leg's summary) starts the trace and the event line afresh. */
function followLegs(s) {
  const legKey = s.leg ? `${s.leg.number}|${s.leg.total}|${s.leg.side}` : '';
  const hasSummary = !!s.summary;
  if ((view.hadSummary && !hasSummary) || (view.legKey !== null && legKey !== view.legKey)) {
    trace.reset(s.t);
    view.lastEvent = '';
  }
  view.hadSummary = hasSummary;
  view.legKey = legKey;
}

const repsDone = (s) => ((s.reps && s.reps.clean) || 0) + ((s.reps && s.reps.with_compensation) || 0);

function handleEvents(s, history) {
  const waiting = startPrompt(s);
  if (waiting !== view.lastStartPrompt) {
    view.lastStartPrompt = waiting;
    if (waiting) sound.say(waiting, true);
  }
  if (s.prompt && s.prompt !== view.lastPrompt) {
    view.lastPrompt = s.prompt;
    if (!waiting) sound.say(s.prompt, true);
  }
  for (const ev of s.events || []) {
    if (ev.text && ev.kind !== 'phase') view.lastEvent = ev.text;
    if (history) continue;
    sound.cue(ev.kind);
    if (ev.kind === 'rep') sound.say(String(repsDone(s)));
    else if (ev.kind === 'compensation' || ev.kind === 'set_done') sound.say(ev.text);
  }
}

function renderDial(s, d) {
  updateDial({ angle: d.conv(s.angle_deg), best: d.conv(s.best_deg), max: d.conv(s.max_deg), band: d.band, range: d.range, er: d.er });
  setText($('best'), s.best_deg == null ? '' : `▲ best ${fmtDeg(d.conv(s.best_deg))}`);
  setText($('max'), s.max_deg == null ? '' : `▲ max ${fmtDeg(d.conv(s.max_deg))}`);
  setText($('knee'), s.knee_deg == null ? '' : `knee ${fmtDeg(s.knee_deg)}`);
}

function render(s) {
  const d = displayFrame(s);
  const ex = s.exercise || {};
  setText($('exercise'), ex.name || 'hiptrack');
  setText($('side'), legText(s));
  setText($('prompt'), s.prompt || '');
  setText($('event'), view.lastEvent);
  show($('rest'), s.rest_remaining_s != null);
  show($('hold'), s.rest_remaining_s == null);
  if (s.rest_remaining_s != null) setText($('rest'), `Rest · next set in ${Math.ceil(s.rest_remaining_s)} s`);
  renderAlerts(s);
  renderCounts(s);
  renderDial(s, d);
  updateHold(holdInfo(s));
  renderSensors(s);
  trace.draw(s.trace, d);
  renderPain(s);
  renderControls(s);
  const starting = start.render(s);
  const summarised = renderSummary(s, d);
  show($('sheet'), starting || summarised);
  $('sheet').classList.toggle('both', starting && summarised);
}

// (session time, wall-clock time when drawn, seq) of the latest drawn snapshots, for latency measurement
const drawn = (window.hiptrackDrawn = []);

function frame() {
  if (view.dirty && view.latest) {
    view.dirty = false;
    render(view.latest);
    drawn.push([view.latest.t, Date.now() / 1000, view.latest.seq]);
    if (drawn.length > 20000) drawn.splice(0, 10000);
  }
  status.render(view.link, view.latest);
  start.tick();
  requestAnimationFrame(frame);
}

function renderToggles() {
  const muted = sound.isMuted();
  const voice = sound.hasVoice();
  setText($('mute'), muted ? 'Muted' : 'Sound on');
  $('mute').setAttribute('aria-pressed', String(muted));
  setText($('voice'), voice ? 'Voice on' : 'Voice off');
  $('voice').setAttribute('aria-pressed', String(voice));
  const state = window.hiptrackAudioState();
  show($('enable-sound'), !muted && state !== 'running' && state !== 'none');
}

let wakeLock = null;

async function keepScreenOn() {
  if (!('wakeLock' in navigator) || document.visibilityState !== 'visible' || (wakeLock && !wakeLock.released)) return;
  try { wakeLock = await navigator.wakeLock.request('screen'); } catch { /* not permitted here */ }
}

/** Any click or key press may start sound (browsers allow it only from a user gesture). */
function userGesture() {
  if (!sound.ready()) sound.unlock();
  keepScreenOn();
  renderToggles();
}

function requestPause() {
  const s = view.latest;
  const command = s && s.paused ? 'resume' : 'pause';
  if (!conn.send({ type: 'command', command })) status.flash('not connected, try again');
}

function requestStop() {
  if (!window.confirm('Stop the session now?')) return;
  if (!conn.send({ type: 'command', command: 'stop' })) status.flash('not connected, try again');
}

function bindControls() {
  $('enable-sound').addEventListener('click', userGesture);
  $('mute').addEventListener('click', () => { sound.setMuted(!sound.isMuted()); renderToggles(); });
  $('voice').addEventListener('click', () => { sound.setVoice(!sound.hasVoice()); renderToggles(); });
  $('stop').addEventListener('click', requestStop);
  $('pause').addEventListener('click', requestPause);
  document.addEventListener('pointerdown', userGesture);
  document.addEventListener('keydown', userGesture);
  window.addEventListener('resize', () => { view.dirty = true; });
  document.addEventListener('visibilitychange', keepScreenOn);
}

sound.init();
bindControls();
renderToggles();
keepScreenOn();
conn.open();
requestAnimationFrame(frame);
