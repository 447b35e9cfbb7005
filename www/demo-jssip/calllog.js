// Call log: the last 20 calls, newest first, kept in localStorage under "sipwsDemo.callLog".
// An entry is { direction: 'in'|'out', peer: string (SIP URI), start: number (ms since epoch),
// duration: number (seconds connected, 0 if never answered), result: string }.

const kKey = 'sipwsDemo.callLog';
export const kMaxEntries = 20;

function valid(e) {
  return e && (e.direction === 'in' || e.direction === 'out') && typeof e.peer === 'string' &&
      Number.isFinite(e.start) && Number.isFinite(e.duration) && typeof e.result === 'string';
}

/** @returns the stored entries (newest first); [] if storage is unavailable or corrupt. */
export function loadLog() {
  try {
    const entries = JSON.parse(localStorage.getItem(kKey) || '[]');
    return Array.isArray(entries) ? entries.filter(valid).slice(0, kMaxEntries) : [];
  } catch {
    return [];
  }
}

function saveLog(entries) {
  try {
    localStorage.setItem(kKey, JSON.stringify(entries));
  } catch {
    // Storage full or disabled (private mode): the log lives for this page only.
  }
}

/** Prepends `entry`, keeps the newest kMaxEntries. @returns the new log. */
export function addEntry(entry) {
  const entries = [entry, ...loadLog()].slice(0, kMaxEntries);
  saveLog(entries);
  return entries;
}

/** Empties the log. */
export function clearLog() {
  saveLog([]);
  return [];
}
