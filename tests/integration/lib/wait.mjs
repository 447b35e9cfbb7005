// Event-waiting helpers: every wait has a bounded timeout and names what it waited for.

/** Resolves with `fn()`'s value once it is truthy; polls every `intervalMs`, fails after `ms`. */
export async function waitFor(fn, { ms = 10000, intervalMs = 20, what = 'condition' } = {}) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Resolves with the first argument of `event` on `emitter` (EventEmitter or JsSIP object).
 * Rejects after `ms`, or as soon as one of `failOn` events fires (its argument is attached).
 */
export function waitEvent(emitter, event, { ms = 10000, failOn = [] } = {}) {
  return new Promise((resolve, reject) => {
    const cleanups = [];
    const done = () => cleanups.forEach((c) => c());
    const timer = setTimeout(() => {
      done();
      reject(new Error(`timed out after ${ms} ms waiting for '${event}'`));
    }, ms);
    cleanups.push(() => clearTimeout(timer));
    const on = (name, fn) => {
      emitter.on(name, fn);
      cleanups.push(() => emitter.removeListener(name, fn));
    };
    on(event, (arg) => {
      done();
      resolve(arg);
    });
    for (const bad of failOn) {
      on(bad, (arg) => {
        done();
        const detail = arg && (arg.cause || (arg.response && arg.response.status_code));
        const err = new Error(`'${bad}' fired while waiting for '${event}'${detail ? `: ${detail}` : ''}`);
        err.eventArg = arg;
        reject(err);
      });
    }
  });
}

/** Races `promise` against a timeout of `ms`. */
export function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}
