// What the pages share: the heading block, and a loader that fetches, renders into a container
// (keeping the focus, skipping identical data) and reports errors.
import { h, swap } from '../dom.js';

/** The page's heading (the <h1> the router focuses) with an optional subtitle and actions. */
export function pageHead(title, { sub, actions } = {}) {
  return h('div', { class: 'page-head' },
    h('div', { class: 'page-title' },
      h('h1', { tabindex: '-1', 'data-testid': 'page-title' }, title),
      sub ? h('p', { class: 'page-sub' }, sub) : null),
    actions ? h('div', { class: 'page-actions' }, actions) : null);
}

/**
 * @param {object} ctx  the router's page context
 * @param {HTMLElement} container  what `render` fills
 * @param {() => Promise<any>} load  fetches the data (pass ctx.signal to the requests)
 * @param {(data) => Node|Node[]} render
 * @returns {() => Promise<void>} refresh: load, render if the data changed, never throws
 */
export function loader(ctx, container, load, render) {
  let last;
  return async function refresh() {
    try {
      const data = await load();
      if (ctx.signal.aborted) return;
      const key = JSON.stringify(data);
      if (key !== last) {
        last = key;
        const nodes = render(data);
        swap(container, ...(Array.isArray(nodes) ? nodes : [nodes]));
      }
      container.setAttribute('aria-busy', 'false');
      ctx.loaded();
    } catch (err) {
      if (ctx.signal.aborted) return;
      container.setAttribute('aria-busy', 'false');
      ctx.failed(err);
    }
  };
}

/** Runs an action of a button: disables it meanwhile, announces `done` or shows the error. */
export async function act(ctx, btn, fn, done) {
  if (btn) btn.disabled = true;
  try {
    await fn();
    if (done) ctx.announce(typeof done === 'function' ? done() : done);
    return true;
  } catch (err) {
    ctx.failed(err);
    return false;
  } finally {
    if (btn && btn.isConnected) btn.disabled = false;
  }
}
