// Registrations: every live binding of the location service (GET /api/v1/registrations), kept
// up to date by the events socket (or polling); "Expire" removes one now (DELETE
// /api/v1/registrations?aor=&contact=), as a REGISTER with expires=0 would.
import { apiPath, queryString } from '../api.js';
import { badge, button, h, note, table } from '../dom.js';
import { act, loader, pageHead } from './common.js';
import { subscriberHref } from './subscribers.js';

export const id = 'registrations';
export const title = 'Registrations';
export const live = ['registrations'];

export function mount(ctx) {
  const results = h('div', { class: 'results', 'aria-busy': 'true', 'data-testid': 'registrations' }, note('Loading…'));
  ctx.root.append(pageHead('Registrations', {
    sub: 'Live bindings of the location service, updated as they change. Expires: seconds left.',
  }), results);

  const refresh = loader(ctx, results, async () => (await ctx.api.get(apiPath('registrations'), { signal: ctx.signal })).json,
    (regs) => table({
      caption: regs.length === 1 ? '1 binding' : `${regs.length} bindings`,
      testid: 'registrations-table',
      rows: regs,
      empty: 'Nobody is registered.',
      rowAttrs: (r) => ({ 'data-aor': r.aor, 'data-contact': r.contact }),
      columns: [
        { label: 'AOR', rowHeader: true, cell: (r) => h('a', { href: subscriberHref(r.aor) }, r.aor) },
        { label: 'Contact', cell: (r) => h('span', { class: 'lines' }, h('code', { class: 'contact' }, r.contact),
          r.reachable === false ? badge('unreachable', 'bad') : null) },
        { label: 'Transport', cell: (r) => r.transport },
        { label: 'Flow', numeric: true, cell: (r) => (r.flow === null || r.flow === undefined ? '—' : String(r.flow)) },
        { label: 'Source', cell: (r) => r.source },
        { label: 'Expires', numeric: true, cell: (r) => `${r.expires} s` },
        { label: 'User agent', cell: (r) => h('span', { class: 'ua' }, r.user_agent || '—') },
        { label: 'Instance', cell: (r) => (r.instance ? h('code', { class: 'instance' }, r.instance.replace(/^<|>$/g, '')) : '—') },
        { label: 'Actions', class: 'actions', cell: (r) => button('Expire', (ev) => expire(ev.currentTarget, r), {
          'aria-label': `Expire ${r.aor} at ${r.contact}`, 'data-focus-key': `expire:${r.aor} ${r.contact}`,
          'data-testid': 'expire-binding' }) },
      ],
    }));

  async function expire(btn, r) {
    const ok = await ctx.confirm({
      title: `Expire this binding of ${r.aor}?`,
      text: `${r.contact} stops receiving calls now. The phone may register again.`,
      ok: 'Expire binding',
    });
    if (!ok) return;
    await act(ctx, btn, () => ctx.api.del(`${apiPath('registrations')}${queryString({ aor: r.aor, contact: r.contact })}`),
      `Binding of ${r.aor} expired.`);
    await refresh();
  }

  refresh();
  return { refresh };
}
