// Flows: the open connections (TCP, TLS, WS, WSS) of every shard (GET /api/v1/flows); "Close"
// closes one as if its peer had (DELETE /api/v1/flows/{id}).
import { apiPath } from '../api.js';
import { button, fmtDuration, h, note, table } from '../dom.js';
import { act, loader, pageHead } from './common.js';

export const id = 'flows';
export const title = 'Flows';
// A WebSocket flow mostly comes and goes with a registration: refresh on either.
export const live = ['flows', 'registrations'];

const secs = (v) => (v === null || v === undefined ? '—' : fmtDuration(v));

export function mount(ctx) {
  const results = h('div', { class: 'results', 'aria-busy': 'true', 'data-testid': 'flows' }, note('Loading…'));
  ctx.root.append(pageHead('Flows', {
    sub: 'Open connections (TCP, TLS, WebSocket), accepted or dialled. Age and idle are minutes:seconds.',
  }), results);

  const refresh = loader(ctx, results, async () => (await ctx.api.get(apiPath('flows'), { signal: ctx.signal })).json,
    (flows) => table({
      caption: flows.length === 1 ? '1 open connection' : `${flows.length} open connections`,
      testid: 'flows-table',
      rows: flows,
      empty: 'No open connections.',
      rowAttrs: (f) => ({ 'data-flow': f.id }),
      columns: [
        { label: 'Id', rowHeader: true, numeric: true, cell: (f) => String(f.id) },
        { label: 'Protocol', cell: (f) => f.transport },
        { label: 'Peer', cell: (f) => f.peer },
        { label: 'Local', cell: (f) => f.local },
        { label: 'Identity', cell: (f) => f.identity || '—' },
        { label: 'Age', numeric: true, cell: (f) => secs(f.age) },
        { label: 'Idle', numeric: true, cell: (f) => secs(f.idle) },
        { label: 'Actions', class: 'actions', cell: (f) => button('Close', (ev) => close(ev.currentTarget, f), {
          'aria-label': `Close flow ${f.id} from ${f.peer}`, 'data-focus-key': `close:${f.id}`,
          'data-testid': 'close-flow' }) },
      ],
    }));

  async function close(btn, f) {
    const ok = await ctx.confirm({
      title: `Close flow ${f.id}?`,
      text: `The ${f.transport} connection from ${f.peer} closes; the bindings registered over it go with it.`,
      ok: 'Close connection',
    });
    if (!ok) return;
    await act(ctx, btn, () => ctx.api.del(apiPath('flows', f.id)), `Flow ${f.id} closed.`);
    await refresh();
  }

  refresh();
  return { refresh };
}
