// One subscriber (#/subscribers/<aor>): change its password; its groups (call classes),
// forwarding rules and aliases, added and removed; its live registrations; delete it.
import { apiPath } from '../api.js';
import { button, field, h, note, setFieldError, table } from '../dom.js';
import { act, loader, pageHead } from './common.js';

export const id = 'subscriber';
export const title = 'Subscriber';
export const live = ['registrations'];

const kKinds = [['unconditional', 'Unconditional'], ['busy', 'Busy'], ['no_answer', 'No answer']];

/** A small form: fields, a submit button, per-field errors; `submit(values)` may throw. */
function miniForm(ctx, { label, fields, submitLabel, testid, submit }) {
  const built = fields.map((f) => field({ inline: true, ...f }));
  const form = h('form', { class: 'toolbar', novalidate: true, 'aria-label': label, 'data-testid': testid },
    built.map((b) => b.wrapper),
    h('button', { type: 'submit', class: 'btn' }, submitLabel));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    setFieldError(form, null);
    const values = Object.fromEntries(built.map((b) => [b.input.name, b.input.value.trim()]));
    const btn = form.querySelector('button[type="submit"]');
    btn.disabled = true;
    try {
      await submit(values, form);
      for (const b of built) if (b.input.tagName === 'INPUT') b.input.value = '';
    } catch (err) {
      const known = built.some((b) => b.input.name === err.field);
      if (err.status === 400 && known) setFieldError(form, err.field, err.message);
      else if (err.message && err.status === undefined && err.field) setFieldError(form, err.field, err.message);
      else ctx.failed(err);
    } finally {
      btn.disabled = false;
    }
  });
  return { form, inputs: Object.fromEntries(built.map((b) => [b.input.name, b.input])) };
}

/** A local check failed: shown on the field like the server's 400. */
function fieldError(fieldName, message) {
  const e = new Error(message);
  e.field = fieldName;
  return e;
}

export function mount(ctx) {
  const aor = ctx.params[0];
  const sub = (...rest) => apiPath('subscribers', aor, ...rest);
  ctx.setTitle(aor);

  const head = pageHead(aor, {
    sub: h('a', { href: '#/subscribers' }, '← All subscribers'),
    actions: button('Delete subscriber', async (ev) => {
      const ok = await ctx.confirm({
        title: `Delete ${aor}?`,
        text: 'Its live registrations expire as registered and its next REGISTER is refused. Its groups, forwarding rules and aliases stay.',
        ok: 'Delete subscriber',
      });
      if (!ok) return;
      if (await act(ctx, ev.target, () => ctx.api.del(sub()))) {
        ctx.navigate('#/subscribers', { announce: `Subscriber ${aor} deleted.` });
      }
    }, { class: 'btn btn-danger', 'data-testid': 'delete-subscriber' }),
  });
  const missing = h('p', { class: 'notice notice-error', hidden: true, 'data-testid': 'no-such-subscriber' },
    `There is no subscriber ${aor}.`);

  // Password.
  const pw = miniForm(ctx, {
    label: 'New password',
    testid: 'password-form',
    fields: [{ name: 'password', label: 'New password', type: 'password', required: true,
      attrs: { autocomplete: 'new-password', 'data-testid': 'new-password' } }],
    submitLabel: 'Change password',
    submit: async ({ password }) => {
      if (!password) throw fieldError('password', 'Enter the new password.');
      await ctx.api.put(sub(), { password });
      ctx.announce(`Password of ${aor} changed.`);
    },
  });

  // Groups.
  const groupsBox = h('div', { 'aria-busy': 'true' }, note('Loading…'));
  const groupForm = miniForm(ctx, {
    label: 'Add to a group',
    testid: 'group-form',
    fields: [{ name: 'group', label: 'Group', hint: 'A call class such as local, ld or int.', required: true,
      attrs: { 'data-testid': 'group-input' } }],
    submitLabel: 'Add to group',
    submit: async ({ group }) => {
      if (!group) throw fieldError('group', 'Enter a group name.');
      await ctx.api.put(sub('groups', group));
      ctx.announce(`${aor} is in group ${group}.`);
      await refreshGroups();
    },
  });
  const refreshGroups = loader(ctx, groupsBox, async () => (await ctx.api.get(sub('groups'), { signal: ctx.signal })).json,
    (groups) => (groups.length === 0 ? note('In no group.', 'groups-empty')
      : h('ul', { class: 'chips', 'aria-label': 'Groups', 'data-testid': 'groups' }, groups.map((g) =>
        h('li', { 'data-group': g }, h('span', {}, g),
          button('Remove', (ev) => removeItem(ev.currentTarget, sub('groups', g), `${aor} left group ${g}.`, refreshGroups), {
            'aria-label': `Remove from group ${g}`, 'data-focus-key': `group:${g}`, class: 'btn btn-small btn-link' }))))));

  // Forwarding rules.
  const fwdBox = h('div', { 'aria-busy': 'true' }, note('Loading…'));
  const fwdForm = miniForm(ctx, {
    label: 'Set a forwarding rule',
    testid: 'forward-form',
    fields: [
      { name: 'kind', label: 'When', options: kKinds, attrs: { 'data-testid': 'forward-kind' } },
      { name: 'target', label: 'Forward to', hint: 'voicemail, or a sip: URI', required: true,
        attrs: { 'data-testid': 'forward-target' } },
      { name: 'ring_timeout', label: 'Ring timeout (s)', type: 'number', hint: 'No answer only; empty: the default.',
        attrs: { min: '1', max: '600', inputmode: 'numeric', 'data-testid': 'forward-timeout' } },
    ],
    submitLabel: 'Set rule',
    submit: async ({ kind, target, ring_timeout: timeout }) => {
      if (!target) throw fieldError('target', 'Enter voicemail or a sip: URI.');
      const body = { target };
      if (timeout) {
        if (kind !== 'no_answer') throw fieldError('ring_timeout', 'Only a no-answer rule has a ring timeout.');
        body.ring_timeout = Number(timeout);
      }
      await ctx.api.put(sub('forwards', kind), body);
      ctx.announce(`Forwarding rule ${kind} of ${aor} set.`);
      await refreshForwards();
    },
  });
  const refreshForwards = loader(ctx, fwdBox, async () => (await ctx.api.get(sub('forwards'), { signal: ctx.signal })).json,
    (rules) => table({
      caption: 'Forwarding rules',
      testid: 'forwards',
      rows: rules,
      empty: 'No forwarding rules.',
      columns: [
        { label: 'When', rowHeader: true, cell: (r) => (kKinds.find(([k]) => k === r.kind) || [r.kind, r.kind])[1] },
        { label: 'Forward to', cell: (r) => h('code', {}, r.target) },
        { label: 'Ring timeout', cell: (r) => (r.kind !== 'no_answer' ? '—' : r.ring_timeout ? `${r.ring_timeout} s` : 'default') },
        { label: 'Actions', class: 'actions', cell: (r) => button('Remove', (ev) =>
          removeItem(ev.currentTarget, sub('forwards', r.kind), `Forwarding rule ${r.kind} of ${aor} removed.`, refreshForwards),
        { 'aria-label': `Remove the ${r.kind} rule`, 'data-focus-key': `fwd:${r.kind}` }) },
      ],
    }));

  // Aliases (a global list: those that reach this AOR).
  const aliasBox = h('div', { 'aria-busy': 'true' }, note('Loading…'));
  const aliasForm = miniForm(ctx, {
    label: 'Add an alias',
    testid: 'alias-form',
    fields: [{ name: 'alias', label: 'Alias', hint: 'A number or name, e.g. +1 555 0100.', required: true,
      attrs: { 'data-testid': 'alias-input' } }],
    submitLabel: 'Add alias',
    submit: async ({ alias }) => {
      if (!alias) throw fieldError('alias', 'Enter an alias.');
      const r = await ctx.api.put(apiPath('aliases', alias), { aor });
      ctx.announce(`Alias ${r.json.alias} reaches ${aor}.`);
      await refreshAliases();
    },
  });
  const sameAor = (a) => a.toLowerCase() === aor.toLowerCase();
  const refreshAliases = loader(ctx, aliasBox,
    async () => (await ctx.api.get(apiPath('aliases'), { signal: ctx.signal })).json.filter((a) => sameAor(a.aor)),
    (aliases) => (aliases.length === 0 ? note('No aliases.', 'aliases-empty')
      : h('ul', { class: 'chips', 'aria-label': 'Aliases', 'data-testid': 'aliases' }, aliases.map((a) =>
        h('li', { 'data-alias': a.alias }, h('span', {}, a.alias),
          button('Remove', (ev) => removeItem(ev.currentTarget, apiPath('aliases', a.alias), `Alias ${a.alias} removed.`, refreshAliases), {
            'aria-label': `Remove alias ${a.alias}`, 'data-focus-key': `alias:${a.alias}`, class: 'btn btn-small btn-link' }))))));

  // Live registrations of this AOR.
  const regBox = h('div', { 'aria-busy': 'true' }, note('Loading…'));
  const refreshRegs = loader(ctx, regBox,
    async () => (await ctx.api.get(`${apiPath('registrations')}?aor=${encodeURIComponent(aor)}`, { signal: ctx.signal })).json,
    (regs) => table({
      caption: 'Registrations',
      testid: 'subscriber-registrations',
      rows: regs,
      empty: 'Not registered.',
      columns: [
        { label: 'Contact', rowHeader: true, cell: (r) => h('code', { class: 'wrap' }, r.contact) },
        { label: 'Transport', cell: (r) => r.transport },
        { label: 'Source', cell: (r) => r.source },
        { label: 'Expires', numeric: true, cell: (r) => `${r.expires} s` },
        { label: 'User agent', cell: (r) => r.user_agent },
      ],
    }));

  async function removeItem(btn, path, done, refresh) {
    if (await act(ctx, btn, () => ctx.api.del(path), done)) await refresh();
  }

  const section = (titleText, idText, ...body) => h('section', { class: `card sec-${idText}`, 'aria-labelledby': idText },
    h('h2', { id: idText }, titleText), ...body);
  const content = h('div', { class: 'sections' },
    section('Password', 'sec-password', pw.form),
    section('Groups', 'sec-groups', groupsBox, groupForm.form),
    section('Forwarding', 'sec-forwards', fwdBox, fwdForm.form),
    section('Aliases', 'sec-aliases', aliasBox, aliasForm.form),
    section('Live registrations', 'sec-regs', regBox));
  ctx.root.append(head, missing, content);

  (async () => {
    try {
      await ctx.api.get(sub(), { signal: ctx.signal });
    } catch (err) {
      if (err.status === 404) {
        missing.hidden = false;
        content.hidden = true;
        head.querySelector('.page-actions').hidden = true;
        ctx.loaded();
        return;
      }
      ctx.failed(err);
      return;
    }
    await Promise.all([refreshGroups(), refreshForwards(), refreshAliases(), refreshRegs()]);
  })();
  return { refresh: refreshRegs };
}
