// Bans: the brute-force bans in force (GET /api/v1/bans); "Lift" ends one and forgets its
// failures (DELETE /api/v1/bans/ip/{address} or /api/v1/bans/user/{aor}).
import { apiPath } from '../api.js';
import { button, fmtDuration, h, note, table } from '../dom.js';
import { act, loader, pageHead } from './common.js';

export const id = 'bans';
export const title = 'Bans';
export const live = [];

export function mount(ctx) {
  const results = h('div', { class: 'results', 'aria-busy': 'true', 'data-testid': 'bans' }, note('Loading…'));
  ctx.root.append(pageHead('Bans', {
    sub: 'Addresses and users banned after too many failed authentications, those ending first first.',
    actions: h('button', { type: 'button', class: 'btn', onclick: () => refresh(), 'data-testid': 'refresh' }, 'Refresh'),
  }), results);

  const refresh = loader(ctx, results, async () => (await ctx.api.get(apiPath('bans'), { signal: ctx.signal })).json,
    (bans) => table({
      caption: bans.length === 1 ? '1 ban in force' : `${bans.length} bans in force`,
      testid: 'bans-table',
      rows: bans,
      empty: 'Nobody is banned.',
      columns: [
        { label: 'Banned', rowHeader: true, cell: (b) => b.what },
        { label: 'Kind', cell: (b) => (b.kind === 'ip' ? 'IP address' : 'user') },
        { label: 'Ends in', numeric: true, cell: (b) => fmtDuration(b.expires) },
        { label: 'Actions', class: 'actions', cell: (b) => button('Lift', (ev) => lift(ev.currentTarget, b), {
          'aria-label': `Lift the ban of ${b.what}`, 'data-focus-key': `lift:${b.kind}:${b.what}`, 'data-testid': 'lift-ban' }) },
      ],
    }));

  async function lift(btn, b) {
    await act(ctx, btn, () => ctx.api.del(apiPath('bans', b.kind, b.what)), `Ban of ${b.what} lifted.`);
    await refresh();
  }

  refresh();
  return { refresh };
}
