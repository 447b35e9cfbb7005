// Status messages (a polite live region for what went well, an alert for errors) and the
// confirmation dialog (a modal <dialog>: focus moves into it, Escape cancels).
import { describeError } from './api.js';

const statusEl = () => document.getElementById('status');
const errorEl = () => document.getElementById('error');
let statusTimer = null;

/** Says `text` in the status line (and to screen readers); it fades after 8 s. */
export function announce(text) {
  const el = statusEl();
  clearError();
  // A new text node each time, so that the same message twice is read twice.
  el.textContent = '';
  requestAnimationFrame(() => {
    el.textContent = text;
  });
  clearTimeout(statusTimer);
  statusTimer = setTimeout(() => {
    el.textContent = '';
  }, 8000);
}

/** Shows an error (a string or what a request threw) in the alert line. */
export function showError(errOrText) {
  const el = errorEl();
  el.textContent = typeof errOrText === 'string' ? errOrText : describeError(errOrText);
  el.hidden = false;
}

export function clearError() {
  const el = errorEl();
  el.hidden = true;
  el.textContent = '';
}

export function clearMessages() {
  clearError();
  clearTimeout(statusTimer);
  statusEl().textContent = '';
}

/**
 * Asks for a confirmation in a modal dialog; resolves true for the confirm button, false for
 * Cancel or Escape. Focus starts on Cancel and returns where it was.
 */
export function confirmDialog({ title, text, ok = 'Delete' }) {
  const dialog = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = ok;
  const before = document.activeElement;
  const key = before && before.dataset ? before.dataset.focusKey : undefined;
  dialog.returnValue = '';
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      // A live refresh may have drawn the button again meanwhile: find it by its focus key.
      const back = before && before.isConnected ? before
        : key && document.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
      if (back) back.focus();
      resolve(dialog.returnValue === 'ok');
    }, { once: true });
    dialog.showModal();
  });
}
