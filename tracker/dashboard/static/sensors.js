// The sensors footer: the session's sample totals and one compact row per sensor link.

import { $, setText, show, span } from './util.js';

const LOW_BATTERY_PERCENT = 15;
const HIGH_LOSS_PERCENT = 1;

function lossPercent(lost, samples) {
  const total = lost + samples;
  return total > 0 ? (100 * lost) / total : 0;
}

const fmtPercent = (p) => (p === 0 ? '0 %' : p < 0.1 ? '<0.1 %' : `${p.toFixed(1)} %`);

function makeRow() {
  const tr = document.createElement('tr');
  const cell = (tag, cls) => {
    const c = document.createElement(tag);
    c.className = cls;
    tr.appendChild(c);
    return c;
  };
  const name = cell('th', 'seg');
  name.scope = 'row';
  const dot = document.createElement('span');
  dot.className = 'dot';
  dot.setAttribute('aria-hidden', 'true');
  const seg = document.createElement('span');
  const state = document.createElement('span');
  state.className = 'link-state';
  name.append(dot, seg, state);
  return { tr, seg, state, rate: cell('td', 'rate'), loss: cell('td', 'loss'),
    battery: cell('td', 'battery'), reconnects: cell('td', 'reconnects') };
}

export function createSensors() {
  const totals = $('sensors');
  const table = $('sensor-links');
  const body = table.tBodies[0];
  const rows = [];

  function renderLink(row, link, samplesEach) {
    const lost = link.lost || 0;
    const samples = typeof link.samples === 'number' ? link.samples : samplesEach;
    const pct = lossPercent(lost, samples);
    const battery = link.battery_percent;
    const segment = link.segment || 'sensor';
    setText(row.seg, segment);
    setText(row.state, link.connected ? ' connected' : ' reconnecting…');
    setText(row.rate, link.rate_hz == null ? '-- Hz' : `${Number(link.rate_hz).toFixed(1)} Hz`);
    setText(row.loss, `lost ${lost} · ${fmtPercent(pct)}`);
    setText(row.battery, `battery ${battery == null ? '—' : `${battery} %`}`);
    const reconnects = link.reconnects || 0;
    const bad = link.bad_packets || 0;
    setText(row.reconnects, [reconnects ? `${reconnects} reconnect${reconnects === 1 ? '' : 's'}` : '',
      bad ? `${bad} bad packet${bad === 1 ? '' : 's'}` : ''].filter(Boolean).join(' · '));
    const title = [link.model, segment].filter(Boolean).join(' on the ');
    if (row.tr.title !== title) row.tr.title = title;
    row.tr.classList.toggle('down', !link.connected);
    row.tr.classList.toggle('warn', pct >= HIGH_LOSS_PERCENT);
    row.battery.classList.toggle('low', battery != null && battery <= LOW_BATTERY_PERCENT);
  }

  return function render(s) {
    const n = s.sensors || {};
    const cal = s.calibration_score == null ? '--' : `${Math.round(s.calibration_score * 100)}%`;
    const items = [`samples ${n.samples ?? 0}`, `lost ${n.lost ?? 0}`, `dropped ${n.dropped ?? 0}`,
      ...(n.rate_hz == null ? [] : [`${Math.round(n.rate_hz)} Hz`]), `calibration ${cal}`];
    const text = items.join(' · ');
    if (totals.dataset.text !== text) {  // items wrap as wholes
      totals.dataset.text = text;
      totals.replaceChildren(...items.flatMap((item, i) => [...(i ? [' · '] : []), span(item)]));
    }
    totals.classList.toggle('warn', n.lost > 0 || n.dropped > 0);

    const links = Array.isArray(n.links) ? n.links : [];
    show(table, links.length > 0);
    while (rows.length < links.length) {
      const row = makeRow();
      rows.push(row);
      body.appendChild(row.tr);
    }
    while (rows.length > links.length) rows.pop().tr.remove();
    const samplesEach = links.length ? (n.samples || 0) / links.length : 0;
    links.forEach((link, i) => renderLink(rows[i], link, samplesEach));
  };
}
