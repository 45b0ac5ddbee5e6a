(() => {
  'use strict';

  const SVG_NS = 'http://www.w3.org/2000/svg';
  const TRACE_WINDOW_S = 30;
  const MAX_BACKOFF_MS = 5000;
  const ERROR_SHOWN_MS = 4000;
  const MAX_CUE_BACKLOG_S = 3;
  const DIAL_R = 100;
  const READOUT_HALF_WIDTH = 62;
  const READOUT_HEIGHT = 80;

  const $ = (id) => document.getElementById(id);

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function show(el, visible) {
    if (el.hidden === visible) el.hidden = !visible;
  }

  function svgEl(tag, attrs, parent) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    parent.appendChild(el);
    return el;
  }

  const fmtDeg = (v) => (v == null ? '--' : `${Math.round(v)}°`);
  const humanize = (kind) => String(kind).replace(/_/g, ' ');

  const prefs = {
    get(key, fallback) {
      try {
        const v = localStorage.getItem(`hiptrack.${key}`);
        return v === null ? fallback : v === 'true';
      } catch {
        return fallback;
      }
    },
    set(key, value) {
      try { localStorage.setItem(`hiptrack.${key}`, String(value)); } catch { /* storage blocked */ }
    },
  };

  // ---- sound -------------------------------------------------------------------------------------

  const CUES = {
    rep: [[880, 0.12]],
    hold_complete: [[660, 0.1], [990, 0.22]],
    compensation: [[196, 0.16, 'square'], [196, 0.16, 'square']],
    set_done: [[523, 0.12], [659, 0.12], [784, 0.35]],
  };

  function createSound() {
    let ctx = null;
    let nextStart = 0;
    let muted = prefs.get('muted', false);
    let voice = prefs.get('voice', false);
    const speech = 'speechSynthesis' in window ? window.speechSynthesis : null;

    function ensureContext() {
      const Ctor = window.AudioContext || window.webkitAudioContext;
      if (ctx || !Ctor) return;
      ctx = new Ctor();
    }

    const ready = () => !!ctx && ctx.state === 'running';

    function unlock() {
      ensureContext();
      if (ctx && ctx.state !== 'running') ctx.resume().catch(() => {});
      if (speech) speech.speak(new SpeechSynthesisUtterance(''));
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

    function cue(kind) {
      const notes = CUES[kind];
      if (!notes || muted || !ready()) return;
      const now = ctx.currentTime;
      if (nextStart - now > MAX_CUE_BACKLOG_S) return;
      let t = Math.max(now, nextStart);
      for (const [freq, dur, type = 'sine'] of notes) {
        tone(freq, dur, type, t);
        t += dur + 0.05;
      }
      nextStart = t + 0.1;
    }

    function say(text, interrupt = false) {
      if (!speech || muted || !voice || !text) return;
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

    return { unlock, ready, cue, say, setMuted, setVoice, isMuted: () => muted, hasVoice: () => voice };
  }

  // ---- dial --------------------------------------------------------------------------------------

  function polar(deg, r) {
    const a = (deg * Math.PI) / 180;
    return [r * Math.sin(a), r * Math.cos(a)];
  }

  const pt = (deg, r) => polar(deg, r).map((v) => v.toFixed(2)).join(' ');

  function sectorPath(a0, a1, r0, r1) {
    const large = a1 - a0 > 180 ? 1 : 0;
    return `M ${pt(a0, r0)} L ${pt(a0, r1)} A ${r1} ${r1} 0 ${large} 0 ${pt(a1, r1)} `
      + `L ${pt(a1, r0)} A ${r0} ${r0} 0 ${large} 1 ${pt(a0, r0)} Z`;
  }

  function dialRange(band) {
    const lo = band ? Math.min(-20, Math.floor(band[0] / 10) * 10) : -20;
    const hi = band ? Math.max(60, Math.ceil(band[1] / 10) * 10) : 60;
    return [lo, hi];
  }

  function createDial() {
    const el = {
      root: $('dial'), scale: $('dial-scale'), band: $('dial-band'), arm: $('dial-arm'),
      best: $('dial-best'), max: $('dial-max'), angle: $('angle'), label: $('angle-label'),
    };
    let builtFor = '';

    function drawScale(lo, hi) {
      el.scale.replaceChildren();
      const large = hi - lo > 180 ? 1 : 0;
      svgEl('path', { d: `M ${pt(lo, DIAL_R)} A ${DIAL_R} ${DIAL_R} 0 ${large} 0 ${pt(hi, DIAL_R)}`, class: 'rim' }, el.scale);
      svgEl('line', { x1: 0, y1: 0, x2: 0, y2: DIAL_R, class: 'zero' }, el.scale);
      for (let d = lo; d <= hi; d += 10) {
        const [x1, y1] = polar(d, DIAL_R);
        const [x2, y2] = polar(d, DIAL_R + 7);
        const [tx, ty] = polar(d, DIAL_R + 17);
        svgEl('line', { x1, y1, x2, y2, class: 'tick' }, el.scale);
        svgEl('text', { x: tx, y: ty, class: d === 0 ? 'tick-label zero-label' : 'tick-label' }, el.scale)
          .textContent = String(d);
      }
    }

    function fitView(lo, hi) {
      const xs = [-READOUT_HALF_WIDTH, READOUT_HALF_WIDTH];
      const ys = [-READOUT_HEIGHT, 10];
      for (let d = lo; d <= hi; d += 2) {
        const [x, y] = polar(d, DIAL_R + 26);
        xs.push(x);
        ys.push(y);
      }
      const x0 = Math.min(...xs);
      const y0 = Math.min(...ys);
      el.root.setAttribute('viewBox', `${x0.toFixed(1)} ${y0.toFixed(1)} ${(Math.max(...xs) - x0).toFixed(1)} ${(Math.max(...ys) - y0).toFixed(1)}`);
    }

    function place(node, deg, lo, hi) {
      node.setAttribute('visibility', deg == null ? 'hidden' : 'visible');
      if (deg != null) node.setAttribute('transform', `rotate(${(-Math.min(hi, Math.max(lo, deg))).toFixed(1)})`);
    }

    return function update({ angle, best, max, band, range, er }) {
      const [lo, hi] = range;
      const key = `${lo}|${hi}|${band}`;
      if (key !== builtFor) {
        builtFor = key;
        drawScale(lo, hi);
        el.band.setAttribute('d', band ? sectorPath(band[0], band[1], DIAL_R * 0.2, DIAL_R) : '');
        fitView(lo, hi);
      }
      place(el.arm, angle, lo, hi);
      place(el.best, best, lo, hi);
      place(el.max, max, lo, hi);
      el.root.classList.toggle('in-band', angle != null && !!band && angle >= band[0] && angle <= band[1]);
      setText(el.angle, fmtDeg(angle));
      setText(el.label, er ? 'external rotation' : 'internal rotation');
    };
  }

  // ---- hold ring ---------------------------------------------------------------------------------

  function createHoldRing() {
    const root = $('hold-ring');
    const bar = $('hold-bar');
    const circumference = 2 * Math.PI * Number(bar.getAttribute('r'));

    return function update({ title, elapsed, target, active, decimals }) {
      const frac = active && target > 0 ? Math.min(1, elapsed / target) : 0;
      bar.setAttribute('stroke-dasharray', `${(frac * circumference).toFixed(1)} ${circumference.toFixed(1)}`);
      bar.setAttribute('visibility', frac > 0 ? 'visible' : 'hidden');
      root.classList.toggle('complete', active && target > 0 && elapsed >= target);
      root.classList.toggle('idle', !active);
      setText($('hold-title'), title);
      const shown = decimals ? elapsed.toFixed(decimals) : String(Math.floor(elapsed));
      setText($('hold-value'), active ? shown : '–');
      setText($('hold-of'), target > 0 ? `of ${target.toFixed(decimals)} s` : '');
    };
  }

  function holdInfo(s) {
    const ex = s.exercise || {};
    const firstHold = (ex.hold_s || [])[0];
    if (ex.kind === 'stretch' && s.stretch) {
      return { title: 'Time at target', elapsed: s.stretch.time_at_target_s || 0, target: firstHold, active: true, decimals: 0 };
    }
    const h = s.hold || {};
    return { title: 'Hold', elapsed: h.elapsed_s || 0, target: h.target_s ?? firstHold, active: !!h.active, decimals: 1 };
  }

  // ---- trace -------------------------------------------------------------------------------------

  function drawTrace(canvas, trace, display) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * dpr);
    const h = Math.round(canvas.clientHeight * dpr);
    if (canvas.width !== w || canvas.height !== h) Object.assign(canvas, { width: w, height: h });
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, w, h);
    const [lo, hi] = display.range;
    const pad = 8 * dpr;
    const y = (v) => pad + ((hi - Math.min(hi, Math.max(lo, v))) / (hi - lo)) * (h - 2 * pad);
    drawTraceGrid(g, display, y, w, dpr);
    const ts = (trace && trace.t) || [];
    const ds = (trace && trace.deg) || [];
    if (!ts.length) return;
    const tEnd = ts[ts.length - 1];
    const x = (t) => w - ((tEnd - t) / TRACE_WINDOW_S) * w;
    g.strokeStyle = '#4fc3f7';
    g.lineWidth = 3 * dpr;
    g.lineJoin = 'round';
    g.beginPath();
    let penDown = false;
    for (let i = 0; i < ts.length; i++) {
      if (ds[i] == null || ts[i] < tEnd - TRACE_WINDOW_S - 1) { penDown = false; continue; }
      const px = x(ts[i]);
      const py = y(display.sign * ds[i]);
      if (penDown) g.lineTo(px, py); else g.moveTo(px, py);
      penDown = true;
    }
    g.stroke();
  }

  function drawTraceGrid(g, display, y, w, dpr) {
    if (display.band) {
      g.fillStyle = 'rgba(61, 220, 132, 0.25)';
      g.fillRect(0, y(display.band[1]), w, y(display.band[0]) - y(display.band[1]));
    }
    g.font = `600 ${14 * dpr}px system-ui, sans-serif`;
    g.textBaseline = 'middle';
    const step = y(0) - y(20) < 24 * dpr ? 40 : 20;
    for (let d = Math.ceil(display.range[0] / step) * step; d <= display.range[1]; d += step) {
      g.fillStyle = d === 0 ? 'rgba(245, 247, 250, 0.5)' : 'rgba(167, 177, 191, 0.25)';
      g.fillRect(0, Math.round(y(d)), w, dpr);
      g.fillStyle = '#a7b1bf';
      if (y(d) > 18 * dpr) g.fillText(`${d}°`, 6 * dpr, y(d) - 9 * dpr);
    }
  }

  // ---- connection --------------------------------------------------------------------------------

  function createConnection({ onMessage, onStatus }) {
    let ws = null;
    let attempt = 0;
    let ended = false;
    let fresh = true;

    function url() {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      return `${proto}//${location.host}/ws${location.search}`;
    }

    function retry() {
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempt);
      attempt += 1;
      onStatus('reconnecting');
      setTimeout(open, delay);
    }

    function open() {
      try {
        ws = new WebSocket(url());
      } catch {
        retry();
        return;
      }
      ws.onopen = () => { attempt = 0; fresh = true; onStatus('live'); };
      ws.onmessage = (e) => parse(e.data);
      ws.onclose = () => {
        ws = null;
        if (ended) onStatus('ended'); else retry();
      };
    }

    function parse(data) {
      let msg;
      try { msg = JSON.parse(data); } catch { return; }
      const first = fresh && !!msg && msg.type === 'state';
      if (first) fresh = false;
      if (msg && msg.type === 'state') ended = !!msg.finished;
      onMessage(msg, first);
    }

    function send(obj) {
      if (!ws || ws.readyState !== WebSocket.OPEN) return false;
      ws.send(JSON.stringify(obj));
      return true;
    }

    return { open, send };
  }

  // ---- page --------------------------------------------------------------------------------------

  const view = { latest: null, dirty: false, link: 'connecting', flash: null, flashUntil: 0, lastEvent: '', lastPrompt: null };
  const painSent = new Set();
  const sound = createSound();
  const updateDial = createDial();
  const updateHold = createHoldRing();
  const conn = createConnection({ onMessage: receive, onStatus: (s) => { view.link = s; } });
  let summaryFor = '';
  let alertsFor = '';

  function displayFrame(s) {
    const ex = s.exercise || {};
    const er = ex.measure === 'hip_er_deg';
    const sign = er ? -1 : 1;
    const raw = Array.isArray(ex.band_ir_deg) ? ex.band_ir_deg : null;
    const band = raw && [Math.min(sign * raw[0], sign * raw[1]), Math.max(sign * raw[0], sign * raw[1])];
    const conv = (v) => (v == null ? null : sign * v);
    return { er, sign, band, range: dialRange(band), conv };
  }

  function receive(msg, firstOnConnection) {
    if (!msg) return;
    if (msg.type === 'error') {
      flashStatus(`error: ${msg.message || 'rejected'}`);
    } else if (msg.type === 'state') {
      handleEvents(msg, firstOnConnection);
      view.latest = msg;
      view.dirty = true;
    }
  }

  function handleEvents(s, history) {
    if (s.prompt && s.prompt !== view.lastPrompt) {
      view.lastPrompt = s.prompt;
      sound.say(s.prompt, true);
    }
    for (const ev of s.events || []) {
      if (ev.text && ev.kind !== 'phase') view.lastEvent = ev.text;
      if (history) continue;
      sound.cue(ev.kind);
      if (ev.kind === 'rep') sound.say(String(repsDone(s)));
      else if (ev.kind === 'compensation' || ev.kind === 'set_done') sound.say(ev.text);
    }
  }

  const repsDone = (s) => ((s.reps && s.reps.clean) || 0) + ((s.reps && s.reps.with_compensation) || 0);

  function flashStatus(text) {
    view.flash = text;
    view.flashUntil = performance.now() + ERROR_SHOWN_MS;
  }

  function renderStatus() {
    const el = $('status');
    const flashing = view.flash && performance.now() < view.flashUntil;
    const finished = view.latest && view.latest.finished;
    const [text, cls] = flashing ? [view.flash, 'error']
      : finished || view.link === 'ended' ? ['session ended', 'ended']
        : view.link === 'live' ? ['live', 'live']
          : view.link === 'reconnecting' ? ['reconnecting…', 'reconnecting'] : ['connecting…', ''];
    setText(el, text);
    if (el.className !== `status ${cls}`) el.className = `status ${cls}`;
  }

  function renderCounts(s) {
    const r = s.reps || {};
    const reps = $('reps');
    const text = `${r.clean || 0} clean · ${r.with_compensation || 0} with compensation / ${r.target ?? '--'}`;
    if (reps.dataset.text !== text) {
      reps.dataset.text = text;
      reps.replaceChildren(span(`${r.clean || 0} clean`, 'clean'), ' · ',
        span(`${r.with_compensation || 0} with compensation`, 'comp'), ` / ${r.target ?? '--'}`);
    }
    show($('partial'), r.partial > 0);
    setText($('partial'), `${r.partial || 0} partial`);
    setText($('set'), s.set ? `Set ${Math.max(1, s.set.number)} of ${s.set.total}` : '');
  }

  function span(text, cls) {
    const el = document.createElement('span');
    el.className = cls;
    el.textContent = text;
    return el;
  }

  function renderAlerts(s) {
    const alerts = s.alerts || [];
    const key = alerts.map((a) => `${a.kind}:${a.message}:${a.severity}`).join('\n');
    if (key === alertsFor) return;
    alertsFor = key;
    const box = $('alerts');
    box.replaceChildren(...alerts.map((a) => span(a.message || humanize(a.kind), a.severity === 'warning' ? 'alert amber' : 'alert')));
    show(box, alerts.length > 0);
  }

  function renderSensors(s) {
    const n = s.sensors || {};
    const cal = s.calibration_score == null ? '--' : `${Math.round(s.calibration_score * 100)}%`;
    const rate = n.rate_hz == null ? '' : ` · ${Math.round(n.rate_hz)} Hz`;
    const el = $('sensors');
    setText(el, `samples ${n.samples ?? 0} · lost ${n.lost ?? 0} · dropped ${n.dropped ?? 0}${rate} · calibration ${cal}`);
    el.classList.toggle('warn', n.lost > 0 || n.dropped > 0);
  }

  function renderDial(s, d) {
    updateDial({ angle: d.conv(s.angle_deg), best: d.conv(s.best_deg), max: d.conv(s.max_deg), band: d.band, range: d.range, er: d.er });
    setText($('best'), s.best_deg == null ? '' : `▲ best ${fmtDeg(d.conv(s.best_deg))}`);
    setText($('max'), s.max_deg == null ? '' : `▲ max ${fmtDeg(d.conv(s.max_deg))}`);
    setText($('knee'), s.knee_deg == null ? '' : `knee ${fmtDeg(s.knee_deg)}`);
  }

  const painKey = (s) => [s.exercise && s.exercise.id, s.side, s.set && s.set.number].join('|');

  function painWanted(s) {
    if (s.finished || s.phase !== 'exercise.end' || !s.set || s.rest_remaining_s != null) return false;
    if (painSent.has(painKey(s))) return false;
    return typeof s.awaiting_pain === 'boolean' ? s.awaiting_pain : true;
  }

  function answerPain(value) {
    const s = view.latest;
    if (!s || !painWanted(s)) return;
    if (!conn.send({ type: 'command', command: 'pain', set: s.set.number, value })) {
      flashStatus('not connected, try again');
      return;
    }
    painSent.add(painKey(s));
    show($('pain'), false);
  }

  function renderPain(s) {
    const wanted = painWanted(s);
    if (wanted) setText($('pain-title'), `Set ${s.set.number} done.`);
    show($('pain'), wanted);
  }

  function renderControls(s) {
    const pause = $('pause');
    show(pause, !!s.can_pause && !s.finished);
    setText(pause, s.paused ? 'Resume' : 'Pause');
    const p = s.phase_progress;
    show($('phase-progress'), p != null && !s.finished);
    if (p != null) $('phase-progress-bar').style.width = `${Math.round(100 * Math.min(1, Math.max(0, p)))}%`;
  }

  function requestPause() {
    const s = view.latest;
    const command = s && s.paused ? 'resume' : 'pause';
    if (!conn.send({ type: 'command', command })) flashStatus('not connected, try again');
  }

  function requestStop() {
    if (!window.confirm('Stop the session now?')) return;
    if (!conn.send({ type: 'command', command: 'stop' })) flashStatus('not connected, try again');
  }

  function chartSrc(url) {
    const token = new URLSearchParams(location.search).get('token');
    if (!token || /[?&]token=/.test(url)) return url;
    return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
  }

  function summaryRow(rep, d) {
    const tr = document.createElement('tr');
    const comps = (rep.compensations || []).map((c) => humanize(typeof c === 'string' ? c : c.kind));
    const cells = [String(rep.number), fmtDeg(d.conv(rep.peak_ir_deg)),
      rep.hold_s == null ? '--' : `${rep.hold_s.toFixed(1)} s`, rep.clean ? 'clean' : comps.join(', ') || 'compensation'];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 3) td.className = rep.clean ? 'clean' : 'comp';
      tr.appendChild(td);
    });
    return tr;
  }

  function buildSummary(sum, d) {
    const body = $('summary-body');
    const facts = document.createElement('p');
    facts.className = 'summary-facts';
    const what = d.er ? 'external rotation' : 'internal rotation';
    facts.textContent = `Max ${what}: ${fmtDeg(d.conv(sum.max_ir_deg))}`
      + (sum.time_at_target_s == null ? '' : ` · Time at target: ${Math.round(sum.time_at_target_s)} s`);
    const table = document.createElement('table');
    const head = table.createTHead().insertRow();
    for (const h of ['Rep', `Peak ${d.er ? 'ER' : 'IR'}`, 'Hold', 'Result']) {
      head.appendChild(Object.assign(document.createElement('th'), { textContent: h }));
    }
    const tbody = table.createTBody();
    for (const rep of sum.reps || []) tbody.appendChild(summaryRow(rep, d));
    body.replaceChildren(facts, ...((sum.reps || []).length ? [table] : []));
    if (sum.chart_url) {
      body.appendChild(Object.assign(document.createElement('img'), { src: chartSrc(sum.chart_url), alt: 'Session chart' }));
    }
  }

  function renderSummary(s, d) {
    const visible = !!s.finished && !!s.summary;
    show($('summary'), visible);
    $('stop').disabled = !!s.finished;
    if (!visible) return;
    const key = JSON.stringify(s.summary);
    if (key !== summaryFor) {
      summaryFor = key;
      buildSummary(s.summary, d);
    }
  }

  function render(s) {
    const d = displayFrame(s);
    const ex = s.exercise || {};
    setText($('exercise'), ex.name || 'hiptrack');
    setText($('side'), s.side ? `${s.side} leg` : '');
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
    drawTrace($('trace'), s.trace, d);
    renderPain(s);
    renderControls(s);
    renderSummary(s, d);
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
    renderStatus();
    requestAnimationFrame(frame);
  }

  function renderToggles() {
    const muted = sound.isMuted();
    const voice = sound.hasVoice();
    setText($('mute'), muted ? 'Muted' : 'Sound on');
    $('mute').setAttribute('aria-pressed', String(muted));
    setText($('voice'), voice ? 'Voice on' : 'Voice off');
    $('voice').setAttribute('aria-pressed', String(voice));
  }

  async function keepScreenOn() {
    if (!('wakeLock' in navigator) || document.visibilityState !== 'visible') return;
    try { await navigator.wakeLock.request('screen'); } catch { /* not permitted here */ }
  }

  function bindControls() {
    $('enable-sound').addEventListener('click', () => {
      sound.unlock();
      show($('enable-sound'), false);
      keepScreenOn();
    });
    $('mute').addEventListener('click', () => { sound.setMuted(!sound.isMuted()); renderToggles(); });
    $('voice').addEventListener('click', () => { sound.setVoice(!sound.hasVoice()); renderToggles(); });
    $('stop').addEventListener('click', requestStop);
    $('pause').addEventListener('click', requestPause);
    for (let v = 0; v <= 10; v++) $(`pain-${v}`).addEventListener('click', () => answerPain(v));
    $('pain-skip').addEventListener('click', () => answerPain(null));
    window.addEventListener('resize', () => { view.dirty = true; });
    document.addEventListener('visibilitychange', keepScreenOn);
  }

  bindControls();
  renderToggles();
  keepScreenOn();
  conn.open();
  requestAnimationFrame(frame);
})();
