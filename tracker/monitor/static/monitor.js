// hiptrack's monitor: every person on the broker, one card each, linking to their own live page. It
// reuses the dashboard's modules (the WebSocket connection, the angle conventions, the formatting).

import { createConnection } from './connection.js';
import { displayFrame } from './dial.js';
import { $, fmtDeg, legText, setText, show, span } from './util.js';

const view = { latest: null, dirty: false, link: 'connecting' };
const cards = new Map();
const token = new URLSearchParams(location.search).get('token');

const conn = createConnection({
  onMessage: (msg) => {
    if (msg && msg.type === 'monitor') { view.latest = msg; view.dirty = true; }
  },
  onStatus: (s) => { view.link = s; view.dirty = true; },
});

function personUrl(id) {
  const q = new URLSearchParams({ s: id });
  if (token) q.set('token', token);
  return `/?${q}`;
}

function el(tag, cls, parent) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (parent) parent.appendChild(e);
  return e;
}

function createCard(id) {
  const a = el('a', 'person');
  a.href = personUrl(id);
  a.dataset.id = id;
  const head = el('div', 'head', a);
  setText(el('span', 'pid', head), id);
  const c = { root: a, badge: el('span', 'badge', head), what: el('div', 'what', a) };
  const numbers = el('div', 'numbers', a);
  c.angle = el('span', 'angle', numbers);
  c.reps = el('div', 'reps', numbers);
  c.alerts = el('div', 'alerts', a);
  c.foot = el('div', 'foot', a);
  return c;
}

function statusText(p) {
  if (p.status !== 'live') return [p.status, p.status];
  if (p.quiet_s != null) return [`no data ${p.quiet_s} s`, 'quiet'];
  if (p.finished) return ['leg done', 'live'];
  if (p.awaiting_start) return ['waiting to start', 'live'];
  if (p.paused) return ['paused', 'live'];
  if (p.rest_remaining_s != null) return [`rest ${Math.ceil(p.rest_remaining_s)} s`, 'live'];
  return ['live', 'live'];
}

function renderCard(c, p) {
  const ex = p.exercise || {};
  const d = displayFrame(p);
  const [badge, cls] = statusText(p);
  setText(c.badge, badge);
  c.badge.className = `badge ${cls}`;
  c.root.className = `person ${p.status}${p.alerts.length ? ' alerting' : ''}`;
  const set = p.set ? ` · set ${Math.max(1, p.set.number)} of ${p.set.total}` : '';
  setText(c.what, `${ex.name || ex.id || 'exercise'} · ${legText({ side: p.side, leg: p.leg })}${set}`);
  const angle = d.conv(p.angle_deg);
  setText(c.angle, p.status === 'offline' && angle == null ? '--' : fmtDeg(angle));
  const inBand = angle != null && d.band && angle >= d.band[0] && angle <= d.band[1];
  c.angle.className = `angle${inBand ? ' in-band' : ''}`;
  const r = p.reps || {};
  const key = `${r.clean}|${r.with_compensation}|${r.target}`;
  if (c.reps.dataset.key !== key) {
    c.reps.dataset.key = key;
    c.reps.replaceChildren(span(`${r.clean || 0} clean`, 'clean'), span(' · ', 'sep'),
      span(`${r.with_compensation || 0} with comp.`, 'comp'), span(` / ${r.target ?? '--'}`, 'target'));
  }
  const alerts = p.alerts.join('  ');
  setText(c.alerts, alerts);
  show(c.alerts, alerts.length > 0);
  setText(c.foot, p.last_event || '');
}

function render(m) {
  const people = (m && m.people) || [];
  const seen = new Set();
  const list = $('people');
  people.forEach((p, i) => {
    seen.add(p.id);
    let c = cards.get(p.id);
    if (!c) { c = createCard(p.id); cards.set(p.id, c); }
    renderCard(c, p);
    if (list.children[i] !== c.root) list.insertBefore(c.root, list.children[i] || null);
  });
  for (const [id, c] of cards) {
    if (!seen.has(id)) { c.root.remove(); cards.delete(id); }
  }
  const live = people.filter((p) => p.status === 'live').length;
  setText($('count'), people.length ? `· ${live} live${people.length > live ? `, ${people.length - live} ended` : ''}` : '');
  show($('empty'), !!m && people.length === 0);
  setText($('broker'), m ? `broker ${m.broker}${m.broker_connected ? '' : ' — unreachable, retrying'}` : '');
  setText($('bad'), m && m.bad_messages ? `· ${m.bad_messages} unreadable message(s) ignored` : '');
}

function renderStatus() {
  const m = view.latest;
  const [text, cls] = view.link !== 'live' ? [view.link === 'reconnecting' ? 'reconnecting…' : 'connecting…', 'reconnecting']
    : m && !m.broker_connected ? ['broker unreachable', 'error'] : ['live', 'live'];
  setText($('status'), text);
  $('status').className = `status ${cls}`;
}

function frame() {
  if (view.dirty) {
    view.dirty = false;
    render(view.latest);
    renderStatus();
  }
  requestAnimationFrame(frame);
}

conn.open();
requestAnimationFrame(frame);
