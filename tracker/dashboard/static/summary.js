// The summary of a finished session (or leg): each rep, clean or with which compensation, and the chart.

import { $, capitalize, fmtDeg, humanize, setText, show } from './util.js';

function withToken(url) {
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
    head.appendChild(Object.assign(document.createElement('th'), { textContent: h, scope: 'col' }));
  }
  const reps = Array.isArray(sum.reps) ? sum.reps : [];
  const tbody = table.createTBody();
  for (const rep of reps) tbody.appendChild(summaryRow(rep, d));
  body.replaceChildren(facts, ...(reps.length ? [table] : []));
  if (sum.chart_url) {
    body.appendChild(Object.assign(document.createElement('img'), { src: withToken(sum.chart_url), alt: 'Session chart' }));
  }
  if (sum.report_url) {
    const links = document.createElement('p');
    links.className = 'summary-links';
    for (const [text, url] of [['Full report', sum.report_url], ['All sessions', '/history'],
      ['Progress over the weeks', '/progress.html']]) {
      links.appendChild(Object.assign(document.createElement('a'), { href: withToken(url), textContent: text, target: '_blank' }));
    }
    body.appendChild(links);
  }
}

/** Shown while the snapshot carries a summary: at the end, and between legs next to the Start panel. */
export function createSummary() {
  let builtFor = '';

  return function render(s, d) {
    const sum = s.summary;
    const visible = !!sum && typeof sum === 'object';
    show($('summary'), visible);
    if (!visible) {
      builtFor = '';
      return false;
    }
    setText($('summary-title'), sum.side ? `${capitalize(sum.side)} leg: summary` : 'Session summary');
    const key = JSON.stringify(sum);
    if (key !== builtFor) {
      builtFor = key;
      buildSummary(sum, d);
    }
    return true;
  };
}
