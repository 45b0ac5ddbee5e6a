// The trace: the angle over the last 30 s, with the target band, on a canvas.

const TRACE_WINDOW_S = 30;

function drawGrid(g, display, y, w, dpr) {
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

/** Index of the first point of the current run: after the last step back in time (a new leg whose
 * clock starts again) and not before `fromT` (when the page last started the trace afresh). */
function firstShown(ts, fromT) {
  let i0 = 0;
  for (let i = 1; i < ts.length; i++) if (ts[i] < ts[i - 1]) i0 = i;
  if (fromT == null || ts[ts.length - 1] < fromT) return i0;  // the clock went back: the cut is moot
  while (i0 < ts.length && ts[i0] < fromT) i0++;
  return i0;
}

export function createTrace(canvas) {
  let fromT = null;

  function draw(trace, display) {
    const dpr = window.devicePixelRatio || 1;
    const w = Math.round(canvas.clientWidth * dpr);
    const h = Math.round(canvas.clientHeight * dpr);
    if (canvas.width !== w || canvas.height !== h) Object.assign(canvas, { width: w, height: h });
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, w, h);
    const [lo, hi] = display.range;
    const pad = 8 * dpr;
    const y = (v) => pad + ((hi - Math.min(hi, Math.max(lo, v))) / (hi - lo)) * (h - 2 * pad);
    drawGrid(g, display, y, w, dpr);
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
    for (let i = firstShown(ts, fromT); i < ts.length; i++) {
      if (ds[i] == null || ts[i] < tEnd - TRACE_WINDOW_S - 1) { penDown = false; continue; }
      const px = x(ts[i]);
      const py = y(display.sign * ds[i]);
      if (penDown) g.lineTo(px, py); else g.moveTo(px, py);
      penDown = true;
    }
    g.stroke();
  }

  /** Start afresh: points before session time `t` are no longer drawn. */
  function reset(t) {
    fromT = t == null ? null : t;
  }

  return { draw, reset };
}
