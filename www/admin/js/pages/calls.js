// Calls: the calls in progress (GET /api/v1/calls), kept up to date by the events socket (or
// polling); "End call" ends one (DELETE /api/v1/calls/{id}: a BYE or CANCEL to both ends);
// each Call-ID links to its SIP ladder.
import { apiPath } from '../api.js';
import { badge, button, fmtBytes, fmtDuration, h, ladderHref, note, table, timeEl, uriEl } from '../dom.js';
import { act, loader, pageHead } from './common.js';

export const id = 'calls';
export const title = 'Calls';
export const live = ['calls'];

const kStates = { trying: ['trying', 'warn'], ringing: ['ringing', 'warn'], answered: ['answered', 'ok'] };

/** "1:05" since `iso` (or "" without it). */
export function since(iso) {
  if (!iso) return '';
  return fmtDuration((Date.now() - new Date(iso).getTime()) / 1000);
}

/** The media summary of a call or record: "anchored, 120 / 118 packets", or "not anchored". */
export function mediaCell(x) {
  if (!x.media_anchored) return h('span', { class: 'muted' }, 'not anchored');
  const legs = x.legs;
  if (!legs) return badge('anchored');
  const leg = (name, l) => h('span', { class: 'small muted', title: l ? fmtBytes(l.bytes) : null },
    l ? `${name} ${l.packets} pkt` : `${name} —`);
  return h('span', { class: 'lines' }, badge('anchored'), leg('caller', legs.caller), leg('callee', legs.callee));
}

export function mount(ctx) {
  const results = h('div', { class: 'results', 'aria-busy': 'true', 'data-testid': 'calls' }, note('Loading…'));
  ctx.root.append(pageHead('Calls', {
    sub: 'Calls in progress, updated as they change. Ladder: the SIP messages of a call.',
  }), results);

  const refresh = loader(ctx, results, async () => (await ctx.api.get(apiPath('calls'), { signal: ctx.signal })).json,
    (calls) => table({
      caption: calls.length === 1 ? '1 call in progress' : `${calls.length} calls in progress`,
      testid: 'calls-table',
      rows: calls,
      empty: 'No calls in progress.',
      rowAttrs: (c) => ({ 'data-call-id': c.call_id, 'data-state': c.state }),
      columns: [
        { label: 'From', rowHeader: true, cell: (c) => uriEl(c.from) },
        { label: 'To', cell: (c) => uriEl(c.to) },
        { label: 'State', cell: (c) => badge(...(kStates[c.state] || [c.state])) },
        { label: 'Started', cell: (c) => h('span', { class: 'lines' }, h('span', {}, timeEl(c.start)),
          c.answer ? h('span', { class: 'small muted' }, 'answered ', timeEl(c.answer)) : null) },
        { label: 'Source', cell: (c) => h('span', { class: 'lines' }, h('span', {}, c.source),
          c.user ? h('span', { class: 'small muted' }, c.user) : null) },
        { label: 'Media', cell: (c) => mediaCell(c) },
        { label: 'Actions', class: 'actions', cell: (c) => [
          h('a', { href: ladderHref(c.call_id), class: 'btn btn-small btn-link', 'data-testid': 'call-ladder', title: `Call-ID ${c.call_id}`,
            'aria-label': `SIP ladder of the call from ${c.from} to ${c.to}`, 'data-focus-key': `ladder:${c.id}` }, 'Ladder'),
          button('End call', (ev) => end(ev.currentTarget, c), {
            class: 'btn btn-small btn-danger-outline', 'aria-label': `End the call from ${c.from} to ${c.to}`,
            'data-focus-key': `end:${c.id}`, 'data-testid': 'end-call' })] },
      ],
    }));

  async function end(btn, c) {
    const ok = await ctx.confirm({
      title: 'End this call?',
      text: `The call from ${c.from} to ${c.to} (${c.state}) is ended on both sides.`,
      ok: 'End call',
    });
    if (!ok) return;
    await act(ctx, btn, () => ctx.api.del(`${apiPath('calls')}/${encodeURIComponent(c.id)}`), 'Call ended.');
    await refresh();
  }

  refresh();
  return { refresh };
}
