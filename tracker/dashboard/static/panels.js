// The live panels: connection status, rep counts and set / leg progress, alerts, pause and phase
// progress, and the pain question after a set.

import { $, ERROR_SHOWN_MS, humanize, sessionOver, setText, show, span, startPrompt } from './util.js';

export function createStatus() {
  const el = $('status');
  let flash = null;
  let flashUntil = 0;

  return {
    /** Show a message (an error) in the status pill for a few seconds. */
    flash(text) {
      flash = text;
      flashUntil = performance.now() + ERROR_SHOWN_MS;
    },
    render(link, s) {
      const flashing = flash && performance.now() < flashUntil;
      const between = s && s.finished && !sessionOver(s);
      const [text, cls] = flashing ? [flash, 'error']
        : sessionOver(s) || link === 'ended' ? ['session ended', 'ended']
          : link === 'live' ? [between ? 'leg done' : 'live', 'live']
            : link === 'reconnecting' ? ['reconnecting…', 'reconnecting'] : ['connecting…', ''];
      setText(el, text);
      if (el.className !== `status ${cls}`) el.className = `status ${cls}`;
    },
  };
}

export function renderCounts(s) {
  const r = s.reps || {};
  const reps = $('reps');
  const text = `${r.clean || 0} clean · ${r.with_compensation || 0} with compensation / ${r.target ?? '--'}`;
  if (reps.dataset.text !== text) {
    reps.dataset.text = text;
    reps.replaceChildren(span(`${r.clean || 0} clean`, 'clean'), span(' · ', 'sep'),
      span(`${r.with_compensation || 0} with compensation`, 'comp'), ` / ${r.target ?? '--'}`);
  }
  show($('partial'), r.partial > 0);
  setText($('partial'), `${r.partial || 0} partial`);
  setText($('set'), s.set ? `Set ${Math.max(1, s.set.number)} of ${s.set.total}` : '');
  const multiLeg = !!s.leg && s.leg.total > 1;
  show($('leg'), multiLeg);
  setText($('leg'), multiLeg ? `Leg ${s.leg.number} of ${s.leg.total}` : '');
}

export function createAlerts() {
  let shownFor = '';
  return function render(s) {
    const alerts = s.alerts || [];
    const key = alerts.map((a) => `${a.kind}:${a.message}:${a.severity}`).join('\n');
    if (key === shownFor) return;
    shownFor = key;
    const box = $('alerts');
    box.replaceChildren(...alerts.map((a) => span(a.message || humanize(a.kind), a.severity === 'warning' ? 'alert amber' : 'alert')));
    show(box, alerts.length > 0);
  };
}

/** A page that only watches (snapshot.watch_only: hiptrack monitor's drill-down) has no Pause or Stop. */
export function renderControls(s) {
  const pause = $('pause');
  show(pause, !s.watch_only && !!s.can_pause && !s.finished && startPrompt(s) == null);
  setText(pause, s.paused ? 'Resume' : 'Pause');
  const p = s.phase_progress;
  show($('phase-progress'), p != null && !s.finished);
  if (p != null) $('phase-progress-bar').style.width = `${Math.round(100 * Math.min(1, Math.max(0, p)))}%`;
  show($('stop'), !s.watch_only);
  $('stop').disabled = sessionOver(s);
}

/** The pain question after each set; latest() gives the newest snapshot, send(obj) -> bool. */
export function createPain({ latest, send, flash }) {
  const answered = new Set();
  const key = (s) => [s.exercise && s.exercise.id, s.side, s.leg && s.leg.number, s.set && s.set.number].join('|');

  function wanted(s) {
    if (s.watch_only || s.finished || s.phase !== 'exercise.end' || !s.set || s.rest_remaining_s != null) return false;
    if (answered.has(key(s))) return false;
    return typeof s.awaiting_pain === 'boolean' ? s.awaiting_pain : true;
  }

  function answer(value) {
    const s = latest();
    if (!s || !wanted(s)) return;
    if (!send({ type: 'command', command: 'pain', set: s.set.number, value })) {
      flash('not connected, try again');
      return;
    }
    answered.add(key(s));
    show($('pain'), false);
  }

  for (let v = 0; v <= 10; v++) $(`pain-${v}`).addEventListener('click', () => answer(v));
  $('pain-skip').addEventListener('click', () => answer(null));

  return function render(s) {
    const want = wanted(s);
    if (want) setText($('pain-title'), `Set ${s.set.number} done.`);
    show($('pain'), want);
  };
}
