// Gateways and routes of the dial plan in force (GET /api/v1/gateways with their up/down
// state, GET /api/v1/routes) and the trusted peers (GET /api/v1/trusted_peers). They change
// with a configuration reload (the button in the top bar).
import { apiPath } from '../api.js';
import { badge, h, note, table } from '../dom.js';
import { loader, pageHead } from './common.js';

export const id = 'gateways';
export const title = 'Gateways and routes';
export const live = [];

const list = (xs) => (xs && xs.length ? xs.join(', ') : '—');

export function mount(ctx) {
  const results = h('div', { class: 'results stack', 'aria-busy': 'true', 'data-testid': 'gateways' }, note('Loading…'));
  ctx.root.append(pageHead('Gateways and routes', {
    sub: 'The dial plan in force, as of the last configuration reload.',
    actions: h('button', { type: 'button', class: 'btn', onclick: () => refresh(), 'data-testid': 'refresh' }, 'Refresh'),
  }), results);

  const refresh = loader(ctx, results, async () => {
    const [g, r, p] = await Promise.all(['gateways', 'routes', 'trusted_peers'].map((x) =>
      ctx.api.get(apiPath(x), { signal: ctx.signal })));
    return { gateways: g.json, routes: r.json, peers: p.json };
  }, ({ gateways, routes, peers }) => [
    table({
      caption: 'Gateways',
      testid: 'gateways-table',
      rows: gateways,
      empty: 'No gateways configured.',
      rowAttrs: (g) => ({ 'data-gateway': g.name, 'data-up': String(g.up) }),
      columns: [
        { label: 'Name', rowHeader: true, class: 'nowrap', cell: (g) => g.name },
        { label: 'State', cell: (g) => (!g.enabled ? badge('disabled') : g.up ? badge('up', 'ok') : badge('down', 'bad')) },
        { label: 'URI', cell: (g) => h('code', { class: 'wrap' }, g.uri) },
        { label: 'Priority', numeric: true, cell: (g) => String(g.priority) },
        { label: 'Weight', numeric: true, cell: (g) => String(g.weight) },
        { label: 'Number', cell: (g) => [g.strip ? `strip ${g.strip}` : '', g.prefix ? `prefix ${g.prefix}` : ''].filter(Boolean).join(', ') || '—' },
        { label: 'Probe', class: 'nowrap', cell: (g) => (g.probe_interval ? `every ${g.probe_interval} s` : 'off') },
        { label: 'Auth user', cell: (g) => g.auth_user || '—' },
        { label: 'DTMF', cell: (g) => g.dtmf },
        { label: 'Topology hiding', cell: (g) => (g.topology_hiding ? 'yes' : 'no') },
      ],
    }),
    table({
      caption: 'Routes, in the order they are tried',
      testid: 'routes-table',
      rows: routes.map((r, i) => ({ ...r, n: i + 1 })),
      empty: 'No routes configured.',
      columns: [
        { label: '#', rowHeader: true, numeric: true, cell: (r) => String(r.n) },
        { label: 'Dialled number', cell: (r) => h('code', {}, r.match) },
        { label: 'From', cell: (r) => (r.from === null ? '—' : h('code', {}, r.from)) },
        { label: 'Gateways', cell: (r) => list(r.gateways) },
        { label: 'Fail over on', cell: (r) => list(r.failover_on) },
      ],
    }),
    table({
      caption: 'Trusted peers',
      testid: 'peers-table',
      rows: peers,
      empty: 'No trusted peers.',
      columns: [
        { label: 'Name', rowHeader: true, cell: (p) => p.name || '—' },
        { label: 'Source', cell: (p) => p.source },
        { label: 'Transport', cell: (p) => p.transport || 'any' },
        { label: 'From', cell: (p) => (p.from ? h('code', { class: 'wrap' }, p.from) : 'any') },
        { label: 'Request-URI', cell: (p) => (p.ruri ? h('code', { class: 'wrap' }, p.ruri) : 'any') },
        { label: 'Relay', cell: (p) => (p.relay ? 'yes' : 'local users only') },
      ],
    }),
  ]);

  refresh();
  return { refresh };
}
