// The Start panel: shown while the guided session waits for the person to be in position
// (snapshot.awaiting_start). The big button, or Space / Enter anywhere on the page, sends "start".
// A page that only watches (snapshot.watch_only) shows the prompt without the button.

import { $, ERROR_SHOWN_MS, capitalize, legText, setText, show, startPrompt } from './util.js';

const PENDING_MS = 5000;
const START_KEYS = new Set([' ', 'Spacebar', 'Enter']);

/** send(obj) -> bool; onGesture(): the press is a user gesture (unlock sound, keep the screen on). */
export function createStartPanel({ send, onGesture }) {
  const panel = $('start');
  const button = $('start-button');
  const errorLine = $('start-error');
  let visible = false;
  let watchOnly = false;
  let pendingUntil = 0;
  let error = '';
  let errorUntil = 0;

  const pending = () => performance.now() < pendingUntil;

  function renderButton() {
    const busy = pending();
    setText(button, busy ? 'Starting…' : 'Start');
    button.setAttribute('aria-disabled', String(busy));
    button.classList.toggle('busy', busy);
    const showError = !!error && performance.now() < errorUntil;
    setText(errorLine, showError ? error : '');
    show(errorLine, showError);
  }

  function showError(text) {
    error = text;
    errorUntil = performance.now() + ERROR_SHOWN_MS;
    pendingUntil = 0;
    renderButton();
  }

  function press() {
    if (!visible || watchOnly || pending()) return;
    onGesture();
    if (!send({ type: 'command', command: 'start' })) {
      showError('Not connected: try again in a moment.');
      return;
    }
    error = '';
    pendingUntil = performance.now() + PENDING_MS;
    renderButton();
  }

  function render(s) {
    const prompt = startPrompt(s);
    const was = visible;
    visible = prompt != null;
    show(panel, visible);
    if (!visible) {
      pendingUntil = 0;
      return false;
    }
    setText($('start-prompt'), prompt);
    setText($('start-leg'), capitalize(legText(s)));
    watchOnly = !!s.watch_only;
    show(button, !watchOnly);
    setText($('start-hint'), watchOnly ? 'waiting for Start on their own page' : 'or press Space / Enter');
    if (!was && !watchOnly) {
      pendingUntil = 0;
      queueMicrotask(() => button.focus({ preventScroll: true }));  // once the sheet around it shows
    }
    renderButton();
    return true;
  }

  function onKey(e) {
    if (!visible || watchOnly || e.repeat || e.altKey || e.ctrlKey || e.metaKey || !START_KEYS.has(e.key)) return;
    const pain = $('pain');
    if (!pain.hidden && pain.contains(e.target)) return;
    e.preventDefault();
    press();
  }

  button.addEventListener('click', press);
  document.addEventListener('keydown', onKey);

  return {
    render,
    /** Called every frame: an error shown in the panel goes after a while, as does a "Starting…". */
    tick() { if (visible) renderButton(); },
    /** The server refused a command; if it was our start, say so in the panel. */
    refused(message) { if (visible && pending()) showError(message); },
    isVisible: () => visible,
  };
}
