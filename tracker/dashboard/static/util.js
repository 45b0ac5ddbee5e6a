// Small DOM and formatting helpers shared by the page's modules.

const SVG_NS = 'http://www.w3.org/2000/svg';

export const ERROR_SHOWN_MS = 4000;

export const $ = (id) => document.getElementById(id);

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function show(el, visible) {
  if (el.hidden === visible) el.hidden = !visible;
}

export function svgEl(tag, attrs, parent) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  parent.appendChild(el);
  return el;
}

export function span(text, cls) {
  const el = document.createElement('span');
  if (cls) el.className = cls;
  el.textContent = text;
  return el;
}

export const fmtDeg = (v) => (v == null ? '--' : `${Math.round(v)}°`);
export const humanize = (kind) => String(kind).replace(/_/g, ' ');
export const capitalize = (text) => (text ? text[0].toUpperCase() + text.slice(1) : '');

/** The prompt of a snapshot's `awaiting_start` (an object with `prompt`; a bare string is accepted too). */
export function startPrompt(s) {
  const a = s && s.awaiting_start;
  if (a == null) return null;
  return typeof a === 'string' ? a : String(a.prompt || 'Get into the start position, then press Start.');
}

/** Whether the whole session is over (not just one leg of several, nor waiting for the next leg's start). */
export function sessionOver(s) {
  if (!s || !s.finished || startPrompt(s) != null) return false;
  return !(s.leg && s.leg.number < s.leg.total);
}

/** "left leg", with "1 of 2" when the session has more than one leg. */
export function legText(s) {
  const side = (s.leg && s.leg.side) || s.side;
  if (!side) return '';
  const of = s.leg && s.leg.total > 1 ? ` · ${s.leg.number} of ${s.leg.total}` : '';
  return `${side} leg${of}`;
}

export const prefs = {
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
