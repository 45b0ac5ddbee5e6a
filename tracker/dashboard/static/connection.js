// The WebSocket to the dashboard server: reconnects with backoff until the session is over.

import { sessionOver } from './util.js';

const MAX_BACKOFF_MS = 5000;

/** onMessage(msg, firstOnConnection): each parsed message; the first state after (re)connecting is
 * flagged, since its events happened before this page saw them. onStatus: 'live' | 'reconnecting' | 'ended'. */
export function createConnection({ onMessage, onStatus }) {
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
    if (msg && msg.type === 'state') ended = sessionOver(msg);
    onMessage(msg, first);
  }

  /** Send a message; false if there is no open connection to send it on. */
  function send(obj) {
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(obj));
    return true;
  }

  return { open, send };
}
