// The SIP ladder of one Call-ID (#/ladder/<call_id>): GET /api/v1/trace?call_id= gives the
// messages sipws kept, in time order; drawn as a sequence diagram (a CSS grid): one column per
// peer address and a "sipws" column, the peer of the first message on the left and the others
// on the right, one arrow per message (in: peer -> sipws, out: sipws -> peer) labelled with the
// method or the status, and its time. Each arrow is a button: it shows the full message in the
// panel beside the diagram. Up/Down (and Home/End) move between arrows.
import { apiPath, queryString } from '../api.js';
import { fmtTime, h, note, swap } from '../dom.js';
import { pageHead } from './common.js';

export const id = 'ladder';
export const title = 'SIP ladder';
export const live = ['calls', 'cdrs'];

/** The arrow's label: the method of a request, "code reason" of a response (with its CSeq method). */
export function labelOf(msg) {
  const first = msg.first_line || '';
  const m = /^SIP\/2\.0\s+(\d{3})\s*(.*)$/.exec(first);
  if (m) {
    const cseq = /^(?:CSeq|cseq)\s*:\s*\d+\s+([A-Za-z]+)/m.exec(msg.text || '');
    return { kind: 'response', code: Number(m[1]), text: `${m[1]} ${m[2]}`.trim(), method: cseq ? cseq[1].toUpperCase() : '' };
  }
  const method = first.split(' ')[0] || '?';
  return { kind: 'request', text: method, method };
}

/** The address of a From/To header of a message (`bob@localhost`), or ''. */
function partyOf(text, header) {
  const m = new RegExp(`^(?:${header})\\s*:\\s*(.*)$`, 'mi').exec(text || '');
  if (!m) return '';
  const uri = (/<([^>]*)>/.exec(m[1]) || [null, m[1].split(';')[0]])[1].trim();
  return uri.replace(/^sips?:/i, '').split(';')[0];
}

/**
 * The columns: [left peers..., 'sipws', right peers...], each {key, title, protocols, locals,
 * party}; `party` is who the peer is, from its first request (the From of one it sent, the To
 * of one sipws sent it).
 */
export function columnsOf(messages) {
  const peers = new Map();
  const locals = new Set();
  for (const m of messages) {
    if (!peers.has(m.peer)) peers.set(m.peer, { key: m.peer, title: m.peer, protocols: new Set(), party: '' });
    const p = peers.get(m.peer);
    p.protocols.add(m.protocol);
    if (!p.party && !/^SIP\//.test(m.first_line || '')) {
      p.party = m.direction === 'in' ? partyOf(m.text, 'From|f') : partyOf(m.text, 'To|t');
    }
    if (m.local) locals.add(m.local);
  }
  const list = [...peers.values()];
  const sipws = { key: '\u0000sipws', title: 'sipws', protocols: new Set(), locals, sipws: true };
  return [...list.slice(0, 1), sipws, ...list.slice(1)];
}

function messageKey(m) {
  return `${m.time}|${m.direction}|${m.peer}|${m.first_line}`;
}

export function mount(ctx) {
  const callId = ctx.params[0];
  ctx.setTitle(`Ladder of ${callId}`);
  let messages = [];
  let selectedKey = null;

  const refreshBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'refresh', onclick: () => refresh() }, 'Refresh');
  const diagram = h('div', { class: 'ladder-box', 'aria-busy': 'true', 'data-testid': 'ladder' }, note('Loading…'));
  const detailTitle = h('h2', { id: 'ladder-detail-title' }, 'Message');
  const detailMeta = h('dl', { class: 'meta' });
  const detailText = h('pre', { class: 'sip-text', tabindex: '0', 'data-testid': 'message-text', 'aria-labelledby': 'ladder-detail-title' });
  const detailHint = note('Select an arrow (click it, or Tab to it and press Enter) to see the message in full.');
  const detail = h('section', { class: 'card ladder-detail', id: 'ladder-detail', 'aria-labelledby': 'ladder-detail-title', 'data-testid': 'message-panel' },
    h('div', { 'aria-live': 'polite' }, detailTitle), detailHint, detailMeta, detailText);
  detailText.hidden = true;

  ctx.root.append(
    pageHead('SIP ladder', {
      sub: h('span', {}, 'Call-ID ', h('code', { class: 'wrap', 'data-testid': 'ladder-call-id' }, callId),
        ' · ', h('a', { href: '#/calls' }, 'Calls'), ' · ', h('a', { href: `#/cdrs${queryString({ call_id: callId })}` }, 'Call records')),
      actions: refreshBtn,
    }),
    h('div', { class: 'ladder-layout' }, diagram, detail));

  function show(m, index) {
    selectedKey = messageKey(m);
    for (const b of diagram.querySelectorAll('.arrow')) {
      if (b.dataset.key === selectedKey) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
    const label = labelOf(m);
    detailTitle.textContent = `Message ${index + 1} of ${messages.length}: ${label.text}${label.kind === 'response' && label.method ? ` (${label.method})` : ''}`;
    detailHint.hidden = true;
    const from = m.direction === 'in' ? m.peer : `sipws ${m.local}`;
    const to = m.direction === 'in' ? `sipws ${m.local}` : m.peer;
    detailMeta.replaceChildren(
      h('dt', {}, 'Time'), h('dd', {}, h('time', { datetime: m.time }, fmtTime(m.time, { ms: true, date: 'always' }))),
      h('dt', {}, 'From'), h('dd', {}, from),
      h('dt', {}, 'To'), h('dd', {}, to),
      h('dt', {}, 'Transport'), h('dd', {}, m.protocol));
    detailText.textContent = m.text || m.first_line;
    detailText.hidden = false;
  }

  function render() {
    if (messages.length === 0) {
      swap(diagram, note('No messages kept for this Call-ID (the trace ring is bounded).', 'ladder-empty'));
      return;
    }
    const cols = columnsOf(messages);
    const colOf = new Map(cols.map((c, i) => [c.key, i]));
    const sipwsCol = colOf.get('\u0000sipws');
    const t0 = new Date(messages[0].time).getTime();
    const grid = h('div', { class: 'ladder', style: `--cols: ${cols.length}; --rows: ${messages.length}` });
    // Column heads and lifelines.
    cols.forEach((c, i) => {
      const sub = c.sipws ? [...c.locals].join(', ') : [[...c.protocols].join(', '), c.party].filter(Boolean).join(' · ');
      grid.append(
        h('div', { class: `ladder-head${c.sipws ? ' ladder-head-sipws' : ''}`, style: `grid-column: ${i + 2}`, 'data-testid': 'ladder-column', 'data-peer': c.sipws ? 'sipws' : c.key },
          h('span', { class: 'ladder-head-name' }, c.title), h('span', { class: 'ladder-head-sub' }, sub)),
        h('div', { class: `lifeline${c.sipws ? ' lifeline-sipws' : ''}`, 'aria-hidden': 'true', style: `grid-column: ${i + 2}; grid-row: 2 / span ${messages.length}` }));
    });
    grid.append(h('div', { class: 'ladder-head ladder-head-time', style: 'grid-column: 1' }, h('span', { class: 'ladder-head-name' }, 'Time')));
    const list = h('ol', { class: 'ladder-list', role: 'list', 'aria-label': `${messages.length} SIP messages, in time order` });
    messages.forEach((m, i) => {
      const peerCol = colOf.get(m.peer);
      const from = m.direction === 'in' ? peerCol : sipwsCol;
      const to = m.direction === 'in' ? sipwsCol : peerCol;
      const lo = Math.min(from, to);
      const hi = Math.max(from, to);
      const label = labelOf(m);
      const rel = (new Date(m.time).getTime() - t0) / 1000;
      const fromName = m.direction === 'in' ? m.peer : 'sipws';
      const toName = m.direction === 'in' ? 'sipws' : m.peer;
      const key = messageKey(m);
      const btn = h('button', {
        type: 'button',
        class: `arrow arrow-${from < to ? 'right' : 'left'} arrow-${label.kind}${label.code >= 400 ? ' arrow-error' : ''}`,
        'aria-controls': 'ladder-detail',
        'aria-current': key === selectedKey ? 'true' : null,
        dataset: {
          key, focusKey: `msg:${key}`, testid: 'ladder-arrow', label: label.text, method: label.method,
          from: fromName, to: toName, direction: m.direction,
        },
        onclick: () => show(m, i),
      },
      h('span', { class: 'arrow-label', title: label.text }, label.text,
        label.kind === 'response' && label.method ? h('span', { class: 'arrow-method' }, ` ${label.method}`) : null),
      h('span', { class: 'arrow-line', 'aria-hidden': 'true' }),
      h('span', { class: 'visually-hidden' }, `, ${fromName} to ${toName} over ${m.protocol}, at ${fmtTime(m.time, { ms: true, date: 'never' })}`));
      const li = h('li', { class: 'ladder-row', role: 'listitem' },
        h('span', { class: 'ladder-time', style: `grid-row: ${i + 2}`, 'aria-hidden': 'true' },
          h('span', {}, fmtTime(m.time, { ms: true, date: 'never' })),
          h('span', { class: 'ladder-rel' }, `+${rel.toFixed(3)} s`)),
        h('span', { class: 'ladder-cell', style: `grid-row: ${i + 2}; grid-column: ${lo + 2} / ${hi + 3}; --span: ${hi - lo + 1}` }, btn));
      list.append(li);
    });
    grid.append(list);
    grid.addEventListener('keydown', onKey);
    swap(diagram, h('p', { class: 'ladder-caption', id: 'ladder-caption' },
      `${messages.length} messages with ${cols.length - 1} ${cols.length === 2 ? 'peer' : 'peers'}, from `,
      h('time', { datetime: messages[0].time }, fmtTime(messages[0].time, { ms: true, date: 'always' })), ' (local time).'),
    h('div', { class: 'ladder-scroll', role: 'region', 'aria-labelledby': 'ladder-caption', tabindex: '-1' }, grid));
    // Keep the panel in step (the selected message may have been re-read).
    const sel = messages.findIndex((m) => messageKey(m) === selectedKey);
    if (sel >= 0) show(messages[sel], sel);
  }

  function onKey(ev) {
    if (!['ArrowUp', 'ArrowDown', 'Home', 'End'].includes(ev.key)) return;
    const arrows = [...diagram.querySelectorAll('.arrow')];
    const at = arrows.indexOf(document.activeElement);
    if (at < 0) return;
    ev.preventDefault();
    const next = ev.key === 'ArrowUp' ? Math.max(0, at - 1) : ev.key === 'ArrowDown' ? Math.min(arrows.length - 1, at + 1)
      : ev.key === 'Home' ? 0 : arrows.length - 1;
    arrows[next].focus();
  }

  let lastJson;
  async function refresh() {
    try {
      const r = await ctx.api.get(`${apiPath('trace')}${queryString({ call_id: callId })}`, { signal: ctx.signal });
      if (ctx.signal.aborted) return;
      const json = JSON.stringify(r.json);
      if (json !== lastJson) {
        lastJson = json;
        messages = Array.isArray(r.json) ? r.json : [];
        render();
      }
      diagram.setAttribute('aria-busy', 'false');
      ctx.loaded();
    } catch (err) {
      if (ctx.signal.aborted) return;
      diagram.setAttribute('aria-busy', 'false');
      if (lastJson === undefined) swap(diagram, note('The trace could not be read.', 'ladder-error'));
      ctx.failed(err);
    }
  }

  refresh();
  return { refresh };
}
