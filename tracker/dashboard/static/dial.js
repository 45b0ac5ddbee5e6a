// The rotation dial (angle arm, target band, best and max markers) and the hold ring.

import { $, fmtDeg, setText, svgEl } from './util.js';

const DIAL_R = 100;
const READOUT_HALF_WIDTH = 62;
const READOUT_HEIGHT = 80;
const BEST_LABEL_R = DIAL_R - 24;

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

/** How a snapshot's angles are shown: external rotation is drawn positive, as internal rotation is. */
export function displayFrame(s) {
  const ex = s.exercise || {};
  const er = ex.measure === 'hip_er_deg';
  const sign = er ? -1 : 1;
  const raw = Array.isArray(ex.band_ir_deg) ? ex.band_ir_deg : null;
  const band = raw && [Math.min(sign * raw[0], sign * raw[1]), Math.max(sign * raw[0], sign * raw[1])];
  const conv = (v) => (v == null ? null : sign * v);
  return { er, sign, band, range: dialRange(band), conv };
}

export function createDial() {
  const el = {
    root: $('dial'), scale: $('dial-scale'), band: $('dial-band'), arm: $('dial-arm'), best: $('dial-best'),
    bestLabel: $('dial-best-label'), max: $('dial-max'), angle: $('angle'), label: $('angle-label'),
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

  const clamp = (deg, lo, hi) => Math.min(hi, Math.max(lo, deg));

  function place(node, deg, lo, hi) {
    node.setAttribute('visibility', deg == null ? 'hidden' : 'visible');
    if (deg != null) node.setAttribute('transform', `rotate(${(-clamp(deg, lo, hi)).toFixed(1)})`);
  }

  function placeLabel(node, deg, lo, hi) {
    node.setAttribute('visibility', deg == null ? 'hidden' : 'visible');
    if (deg == null) return;
    const [x, y] = polar(clamp(deg, lo, hi), BEST_LABEL_R);
    node.setAttribute('x', x.toFixed(1));
    node.setAttribute('y', y.toFixed(1));
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
    placeLabel(el.bestLabel, best, lo, hi);
    place(el.max, max, lo, hi);
    el.root.classList.toggle('in-band', angle != null && !!band && angle >= band[0] && angle <= band[1]);
    setText(el.angle, fmtDeg(angle));
    setText(el.label, er ? 'external rotation' : 'internal rotation');
  };
}

export function createHoldRing() {
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

export function holdInfo(s) {
  const ex = s.exercise || {};
  const firstHold = (ex.hold_s || [])[0];
  if (ex.kind === 'stretch' && s.stretch) {
    return { title: 'Time at target', elapsed: s.stretch.time_at_target_s || 0, target: firstHold, active: true, decimals: 0 };
  }
  const h = s.hold || {};
  return { title: 'Hold', elapsed: h.elapsed_s || 0, target: h.target_s ?? firstHold, active: !!h.active, decimals: 1 };
}
