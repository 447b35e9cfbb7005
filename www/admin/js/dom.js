// DOM helpers of the admin pages: element creation, accessible tables, forms with per-field
// errors, a re-render that keeps the keyboard focus, and the formats of times and sizes.

let idCounter = 0;
/** A document-unique id with `prefix`. */
export function uid(prefix = 'id') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

/**
 * Creates an element. `attrs`: `class`, `text`, `on<event>` handlers, `dataset` (object),
 * booleans (set when true, left out when false), anything else as an attribute; null and
 * undefined are left out. Children: nodes, strings, arrays of them, null/false (skipped).
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/**
 * Replaces the children of `container` with `nodes`, keeping the keyboard focus: the element
 * that had it (found again by its `data-focus-key`) gets it back, so that a live refresh does
 * not throw a keyboard or screen-reader user back to the top of the page.
 */
export function swap(container, ...nodes) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.dataset.focusKey : undefined;
  container.replaceChildren();
  append(container, nodes);
  if (key) {
    const again = container.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus({ preventScroll: true });
    else container.closest('main')?.focus({ preventScroll: true });
  }
}

/**
 * An accessible table in a focusable scroll region (wide tables scroll sideways, and the
 * keyboard can scroll them). Columns: `{label, cell(row) -> node|string, rowHeader, class,
 * numeric}`; the row header column is a <th scope="row">.
 * @returns {HTMLElement}
 */
export function table({ caption, columns, rows, empty = 'Nothing to show.', testid, rowAttrs }) {
  const capId = uid('caption');
  const wrap = h('div', {
    class: 'table-wrap', role: 'region', 'aria-labelledby': capId, tabindex: '0',
    'data-testid': testid,
  });
  if (rows.length === 0) {
    // No empty table: the caption and what "empty" means (and nothing to scroll).
    wrap.removeAttribute('tabindex');
    wrap.append(h('p', { class: 'table-caption', id: capId }, caption),
      h('p', { class: 'empty', 'data-testid': testid ? `${testid}-empty` : null }, empty));
    return wrap;
  }
  const t = h('table', {}, h('caption', { id: capId }, caption));
  t.append(h('thead', {}, h('tr', {}, columns.map((c) =>
    h('th', { scope: 'col', class: [c.class, c.numeric ? 'num' : ''].filter(Boolean).join(' ') || null }, c.label)))));
  const body = h('tbody');
  for (const row of rows) {
    const tr = h('tr', rowAttrs ? rowAttrs(row) : {});
    for (const c of columns) {
      const cls = [c.class, c.numeric ? 'num' : ''].filter(Boolean).join(' ') || null;
      const content = c.cell(row);
      tr.append(c.rowHeader ? h('th', { scope: 'row', class: cls }, content) : h('td', { class: cls }, content));
    }
    body.append(tr);
  }
  t.append(body);
  wrap.append(t);
  return wrap;
}

/**
 * A labelled form field. `o`: {label, name, type, value, hint, required, attrs (more input
 * attributes), options (for a select: [[value, label]...])}. @returns {wrapper, input}
 */
export function field(o) {
  const id = uid(`f-${o.name}`);
  const hintId = o.hint ? `${id}-hint` : null;
  const errId = `${id}-error`;
  const describedBy = [hintId, errId].filter(Boolean).join(' ');
  let input;
  if (o.options) {
    input = h('select', { id, name: o.name, 'aria-describedby': describedBy, ...(o.attrs || {}) },
      o.options.map(([v, l]) => h('option', { value: v, selected: String(o.value ?? '') === String(v) }, l)));
  } else {
    input = h('input', {
      id, name: o.name, type: o.type || 'text', value: o.value ?? '', required: !!o.required,
      'aria-describedby': describedBy, autocomplete: 'off', spellcheck: 'false', ...(o.attrs || {}),
    });
  }
  // Typing again clears the error shown on the field.
  input.addEventListener('input', () => {
    if (input.getAttribute('aria-invalid') !== 'true') return;
    input.removeAttribute('aria-invalid');
    const err = document.getElementById(errId);
    if (err) err.textContent = '';
  });
  const wrapper = h('div', { class: `field${o.inline ? ' field-inline' : ''} field-${o.name}` },
    h('label', { for: id }, o.label),
    input,
    o.hint ? h('p', { class: 'hint', id: hintId }, o.hint) : null,
    h('p', { class: 'field-error', id: errId }));
  return { wrapper, input };
}

/** Marks the inputs of `form` named by an API error's `field` (or clears all with null). */
export function setFieldError(form, fieldName, message) {
  for (const input of form.querySelectorAll('input, select')) {
    const err = document.getElementById(`${input.id}-error`);
    const hit = fieldName && input.name === fieldName;
    if (hit) input.setAttribute('aria-invalid', 'true');
    else input.removeAttribute('aria-invalid');
    if (err) err.textContent = hit ? message : '';
  }
  if (fieldName) form.querySelector(`[name="${CSS.escape(fieldName)}"]`)?.focus();
}

/** A button; `attrs` as for h(). */
export function button(label, onclick, attrs = {}) {
  return h('button', { type: 'button', class: 'btn btn-small', onclick, ...attrs }, label);
}

/** An empty-state paragraph or a loading line. */
export function note(text, testid) {
  return h('p', { class: 'empty', 'data-testid': testid }, text);
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** ISO-8601 -> local "HH:MM:SS" today, "YYYY-MM-DD HH:MM:SS" otherwise (`ms`: with .mmm). */
export function fmtTime(iso, { ms = false, date = 'auto' } = {}) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  let s = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  if (ms) s += `.${pad(d.getMilliseconds(), 3)}`;
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  if (date === 'always' || (date === 'auto' && !sameDay)) {
    s = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${s}`;
  }
  return s;
}

/** A <time> element of an ISO-8601 instant, shown in local time. */
export function timeEl(iso, o) {
  if (!iso) return h('span', { class: 'muted' }, '—');
  return h('time', { datetime: iso, title: iso }, fmtTime(iso, o));
}

/** Seconds -> "m:ss" or "h:mm:ss"; null/undefined -> "". */
export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return '';
  const s = Math.max(0, Math.round(Number(seconds)));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  return hh ? `${hh}:${pad(mm)}:${pad(ss)}` : `${mm}:${pad(ss)}`;
}

/** Bytes -> "512 B", "1.2 kB", "3.4 MB". */
export function fmtBytes(n) {
  if (n === null || n === undefined) return '';
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}

/** A yes/no badge with text (never colour alone). */
export function badge(text, kind = '') {
  return h('span', { class: `badge${kind ? ` badge-${kind}` : ''}` }, text);
}

/** A SIP URI to read: without its `sip:` scheme (the full URI in a tooltip). */
export function uriEl(uri) {
  const text = String(uri || '').replace(/^sip:/i, '');
  return h('span', { class: 'uri', title: uri || null }, text || '—');
}

/** The hash link of the ladder of a Call-ID. */
export function ladderHref(callId) {
  return `#/ladder/${encodeURIComponent(callId)}`;
}
