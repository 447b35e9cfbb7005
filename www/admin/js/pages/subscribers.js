// Subscribers: the list (search and pages: ?search=&offset=&limit=, X-Total-Count), add one
// with a password, delete one (confirmed); each AOR links to its page (password, groups,
// forwarding rules, aliases).
import { apiPath, queryString } from '../api.js';
import { button, field, h, note, setFieldError, table } from '../dom.js';
import { act, loader, pageHead } from './common.js';

export const id = 'subscribers';
export const title = 'Subscribers';
export const live = [];

const kPageSizes = [25, 50, 100, 250];

export function subscriberHref(aor) {
  return `#/subscribers/${encodeURIComponent(aor).replace(/%40/g, '@')}`;
}

function readQuery(q) {
  const limit = kPageSizes.includes(Number(q.get('limit'))) ? Number(q.get('limit')) : 25;
  const offset = Math.max(0, Math.floor(Number(q.get('offset')) || 0));
  return { search: q.get('search') || '', offset, limit };
}

export function mount(ctx) {
  let state = readQuery(ctx.query);
  const go = (s) => ctx.navigate(`#/subscribers${queryString({
    search: s.search, offset: s.offset || '', limit: s.limit === 25 ? '' : s.limit,
  })}`);

  // Search (a search landmark) and page size.
  const search = field({ name: 'search', label: 'Search', type: 'search', value: state.search,
    hint: 'Part of an AOR, any case.', inline: true });
  const size = field({ name: 'limit', label: 'Per page', value: state.limit, inline: true,
    options: kPageSizes.map((n) => [n, String(n)]) });
  size.input.addEventListener('change', () => go({ ...state, offset: 0, limit: Number(size.input.value) }));
  const searchForm = h('form', { class: 'toolbar', role: 'search', 'aria-label': 'Subscribers',
    onsubmit: (ev) => {
      ev.preventDefault();
      go({ ...state, offset: 0, search: search.input.value.trim() });
    } },
  search.wrapper,
  h('button', { type: 'submit', class: 'btn', 'data-testid': 'subscriber-search' }, 'Search'),
  size.wrapper);
  search.input.dataset.testid = 'subscriber-search-input';

  // Add a subscriber.
  const aor = field({ name: 'aor', label: 'AOR', hint: 'user@domain, e.g. dave@example.com', required: true,
    attrs: { autocapitalize: 'off', 'data-testid': 'add-aor' } });
  const password = field({ name: 'password', label: 'Password', type: 'password', required: true,
    hint: 'Stored as digest HA1 only.', attrs: { autocomplete: 'new-password', 'data-testid': 'add-password' } });
  const addForm = h('form', { novalidate: true, 'aria-labelledby': 'add-sub-title' },
    aor.wrapper, password.wrapper,
    h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'add-submit' }, 'Add subscriber'));
  addForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setFieldError(addForm, null);
    const value = aor.input.value.trim();
    if (!value) return setFieldError(addForm, 'aor', 'Enter user@domain.');
    if (!password.input.value) return setFieldError(addForm, 'password', 'Enter a password.');
    const btn = addForm.querySelector('button[type="submit"]');
    btn.disabled = true;
    try {
      const r = await ctx.api.post(apiPath('subscribers'), { aor: value, password: password.input.value });
      aor.input.value = '';
      password.input.value = '';
      ctx.announce(`Subscriber ${r.json.aor} added.`);
      await refresh();
    } catch (err) {
      if (err.status === 409) setFieldError(addForm, 'aor', `${value} exists already.`);
      else if (err.status === 400 && (err.field === 'aor' || err.field === 'password')) setFieldError(addForm, err.field, err.message);
      else ctx.failed(err);
    } finally {
      btn.disabled = false;
    }
  });

  const results = h('div', { class: 'results', 'aria-busy': 'true', 'data-testid': 'subscribers' },
    note('Loading…'));
  ctx.root.append(
    pageHead('Subscribers', { sub: 'The SIP accounts of this server (its registrar and digest realm).' }),
    h('div', { class: 'split' },
      h('div', { class: 'split-main' }, searchForm, results),
      h('section', { class: 'card split-side', 'aria-labelledby': 'add-sub-title' },
        h('h2', { id: 'add-sub-title' }, 'Add a subscriber'), addForm)));

  const refresh = loader(ctx, results, async () => {
    const r = await ctx.api.get(`${apiPath('subscribers')}${queryString({
      search: state.search, offset: state.offset, limit: state.limit,
    })}`, { signal: ctx.signal });
    return { rows: r.json, total: Number(r.headers.get('X-Total-Count') ?? r.json.length) };
  }, ({ rows, total }) => {
    const first = rows.length ? state.offset + 1 : 0;
    const last = state.offset + rows.length;
    const what = state.search ? ` matching “${state.search}”` : '';
    const caption = total === 0 ? `Subscribers${what}: none`
      : `Subscribers${what}: ${first}–${last} of ${total}`;
    const t = table({
      caption,
      testid: 'subscribers-table',
      rows,
      empty: state.search ? 'No subscriber matches.' : 'No subscribers yet: add one.',
      rowAttrs: (s) => ({ 'data-aor': s.aor }),
      columns: [
        { label: 'AOR', rowHeader: true, cell: (s) => h('a', { href: subscriberHref(s.aor), 'data-focus-key': `open:${s.aor}` }, s.aor) },
        { label: 'User', cell: (s) => s.user },
        { label: 'Domain', cell: (s) => s.domain },
        { label: 'Actions', class: 'actions', cell: (s) => button('Delete', (ev) => remove(ev.currentTarget, s.aor), {
          class: 'btn btn-small btn-danger-outline', 'aria-label': `Delete ${s.aor}`,
          'data-focus-key': `del:${s.aor}`, 'data-testid': 'delete-subscriber',
        }) },
      ],
    });
    const pager = h('nav', { class: 'pager', 'aria-label': 'Subscriber pages' },
      button('Previous page', () => go({ ...state, offset: Math.max(0, state.offset - state.limit) }), {
        disabled: state.offset === 0, 'data-focus-key': 'prev', 'data-testid': 'page-prev' }),
      h('span', { class: 'pager-pos' }, total ? `Page ${Math.floor(state.offset / state.limit) + 1} of ${Math.max(1, Math.ceil(total / state.limit))}` : ''),
      button('Next page', () => go({ ...state, offset: state.offset + state.limit }), {
        disabled: last >= total, 'data-focus-key': 'next', 'data-testid': 'page-next' }));
    return [t, total > state.limit || state.offset > 0 ? pager : null].filter(Boolean);
  });

  async function remove(btn, who) {
    const ok = await ctx.confirm({
      title: `Delete ${who}?`,
      text: 'Its live registrations expire as registered and its next REGISTER is refused. Its groups, forwarding rules and aliases stay.',
      ok: 'Delete subscriber',
    });
    if (!ok) return;
    await act(ctx, btn, () => ctx.api.del(apiPath('subscribers', who)), `Subscriber ${who} deleted.`);
    await refresh();
  }

  refresh();
  return {
    refresh,
    update(q) {
      state = readQuery(q);
      search.input.value = state.search;
      size.input.value = String(state.limit);
      refresh();
    },
  };
}
