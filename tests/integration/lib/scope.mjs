// Per-test scope: cleanups that always run (LIFO, each bounded, errors collected), logs that
// are appended to the error message when the test fails, and temp dirs removed when it passes
// (kept, and named in the error, when it fails; SIPWS_IT_KEEP=1 keeps them always).
import fs from 'node:fs';

/**
 * Runs `body(scope)` for test context `t`.
 * scope.defer(fn): cleanup run after the body, last deferred first, even on failure.
 * scope.log(name, fn): fn() returns text shown if the test fails (daemon stderr, SIPp traces).
 * scope.tempDir(dir): removed after the test if it passed.
 */
export async function withScope(t, body) {
  const cleanups = [];
  const logs = [];
  const dirs = new Set();
  const scope = {
    defer: (fn) => cleanups.push(fn),
    log: (name, fn) => logs.push([name, fn]),
    tempDir: (dir) => dirs.add(dir),
  };
  let failure = null;
  try {
    await body(scope);
  } catch (err) {
    failure = err;
  }
  // Cleanup first so that the logs include shutdown messages.
  const cleanupErrors = [];
  while (cleanups.length) {
    const fn = cleanups.pop();
    try {
      await Promise.race([
        fn(),
        new Promise((_, reject) => {
          const tm = setTimeout(() => reject(new Error('cleanup took more than 15 s')), 15000);
          tm.unref();
        }),
      ]);
    } catch (err) {
      cleanupErrors.push(err);
    }
  }
  if (!failure && cleanupErrors.length) failure = cleanupErrors[0];
  if (!failure && process.env.SIPWS_IT_KEEP !== '1') {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  }
  if (failure) {
    let extra = '';
    for (const [name, fn] of logs) {
      try {
        const text = fn();
        if (text) extra += `\n--- ${name} ---\n${text}`;
      } catch {}
    }
    if (dirs.size) extra += `\n--- kept temp dirs ---\n${[...dirs].join('\n')}`;
    if (failure instanceof Error) {
      failure.message += extra;
    } else {
      failure = new Error(`${String(failure)}${extra}`);
    }
    throw failure;
  }
}
