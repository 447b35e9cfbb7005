// Call records: GET /api/v1/cdrs with filters (call_id, from, to, status, since, until) and
// pages (offset, limit, X-Total-Count); "Export CSV" downloads the same filters with
// format=csv (fetched with the token, saved from a blob). Each Call-ID opens its SIP ladder.
import { apiPath, queryString } from '../api.js';
import { badge, button, field, fmtDuration, h, ladderHref, note, table, timeEl, uriEl } from '../dom.js';
import { act, loader, pageHead } from './common.js';
import { mediaCell } from './calls.js';

export const id = 'cdrs';
export const title = 'Call records';
export const live = ['cdrs'];

const kLimit = 50;
const kFilters = [
  { name: 'call_id', label: 'Call-ID' },
  { name: 'from', label: 'From' },
  { name: 'to', label: 'To' },
  { name: 'status', label: 'Status', type: 'number', attrs: { min: '100', max: '699', inputmode: 'numeric' } },
  { name: 'since', label: 'Since', type: 'datetime-local', attrs: { step: '1' } },
  { name: 'until', label: 'Until', type: 'datetime-local', attrs: { step: '1' } },
];
const kHangup = { caller: 'caller', callee: 'callee', admin: 'admin', media_timeout: 'media timeout', shutdown: 'shutdown' };

/** A datetime-local value (local time) -> ISO-8601 UTC without milliseconds, for the API. */
function toUtc(local) {
  if (!local) return '';
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function readQuery(q) {
  const f = {};
  for (const { name } of kFilters) f[name] = q.get(name) || '';
  return { filters: f, offset: Math.max(0, Math.floor(Number(q.get('offset')) || 0)) };
}

/** The API query of the filters (times converted to UTC). */
function apiFilters(filters) {
  return { ...filters, since: toUtc(filters.since), until: toUtc(filters.until) };
}

export function mount(ctx) {
  let state = readQuery(ctx.query);
  const go = (s) => ctx.navigate(`#/cdrs${queryString({ ...s.filters, offset: s.offset || '' })}`);

  const built = kFilters.map((f) => field({ ...f, inline: true, value: state.filters[f.name],
    attrs: { ...(f.attrs || {}), 'data-testid': `filter-${f.name}` } }));
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Call records', novalidate: true },
    built.map((b) => b.wrapper),
    h('div', { class: 'filter-buttons' },
      h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'filter-apply' }, 'Apply filters'),
      button('Clear', () => go({ filters: {}, offset: 0 }), { class: 'btn', 'data-testid': 'filter-clear' })));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const filters = Object.fromEntries(built.map((b) => [b.input.name, b.input.value.trim()]));
    go({ filters, offset: 0 });
  });

  const exportBtn = button('Export CSV', (ev) => exportCsv(ev.currentTarget), {
    class: 'btn', 'data-testid': 'export-csv', 'aria-describedby': 'export-hint' });
  const results = h('div', { class: 'results', 'aria-busy': 'true', 'data-testid': 'cdrs' }, note('Loading…'));
  ctx.root.append(
    pageHead('Call records', {
      sub: h('span', { id: 'export-hint' }, 'Ended calls, newest first. Export CSV saves every record that matches the filters.'),
      actions: exportBtn,
    }),
    form, results);

  const refresh = loader(ctx, results, async () => {
    const r = await ctx.api.get(`${apiPath('cdrs')}${queryString({ ...apiFilters(state.filters), offset: state.offset, limit: kLimit })}`,
      { signal: ctx.signal });
    return { rows: r.json, total: Number(r.headers.get('X-Total-Count') ?? r.json.length) };
  }, ({ rows, total }) => {
    const first = rows.length ? state.offset + 1 : 0;
    const last = state.offset + rows.length;
    const t = table({
      caption: total === 0 ? 'Call records: none' : `Call records ${first}–${last} of ${total}`,
      testid: 'cdrs-table',
      rows,
      empty: Object.values(state.filters).some(Boolean) ? 'No call record matches the filters.' : 'No call records yet.',
      rowAttrs: (c) => ({ 'data-call-id': c.call_id, 'data-status': c.status }),
      columns: [
        { label: 'Started', rowHeader: true, class: 'nowrap', cell: (c) => timeEl(c.start) },
        { label: 'From', cell: (c) => uriEl(c.from) },
        { label: 'To', cell: (c) => uriEl(c.to) },
        { label: 'Duration', numeric: true, cell: (c) => (c.answer ? fmtDuration(c.duration) : '—') },
        { label: 'Result', cell: (c) => h('span', { class: 'lines' },
          badge(`${c.status} ${c.reason || ''}`.trim(), c.status >= 200 && c.status < 300 ? 'ok' : c.status >= 400 ? 'bad' : ''),
          c.hangup ? h('span', { class: 'small muted' }, `ended by ${kHangup[c.hangup] || c.hangup}`) : null) },
        { label: 'Route', cell: (c) => [c.route || '', c.gateways && c.gateways.length ? ` via ${c.gateways.join(', ')}` : '',
          c.forwarded && c.forwarded.length ? ` → ${c.forwarded.join(', ')}` : ''].join('').trim() || '—' },
        { label: 'Media', cell: (c) => mediaCell(c) },
        { label: 'Call', class: 'actions', cell: (c) => h('a', { href: ladderHref(c.call_id), class: 'btn btn-small btn-link',
          'data-testid': 'cdr-ladder', title: `Call-ID ${c.call_id}`, 'aria-label': `SIP ladder of the call from ${c.from} to ${c.to}`,
          'data-focus-key': `ladder:${c.id}` }, 'Ladder') },
      ],
    });
    const pager = h('nav', { class: 'pager', 'aria-label': 'Call record pages' },
      button('Previous page', () => go({ ...state, offset: Math.max(0, state.offset - kLimit) }), {
        disabled: state.offset === 0, 'data-focus-key': 'prev' }),
      h('span', { class: 'pager-pos' }, `Page ${Math.floor(state.offset / kLimit) + 1} of ${Math.max(1, Math.ceil(total / kLimit))}`),
      button('Next page', () => go({ ...state, offset: state.offset + kLimit }), {
        disabled: last >= total, 'data-focus-key': 'next' }));
    return [t, total > kLimit || state.offset > 0 ? pager : null].filter(Boolean);
  });

  async function exportCsv(btn) {
    await act(ctx, btn, async () => {
      const r = await ctx.api.get(`${apiPath('cdrs')}${queryString({ ...apiFilters(state.filters), format: 'csv' })}`, { as: 'blob' });
      const url = URL.createObjectURL(r.blob);
      const stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, '').replace('T', '-');
      const a = h('a', { href: url, download: `sipws-cdrs-${stamp}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
    }, 'Call records exported as CSV.');
  }

  refresh();
  return {
    refresh,
    update(q) {
      state = readQuery(q);
      for (const b of built) b.input.value = state.filters[b.input.name];
      refresh();
    },
  };
}
