// The theme chosen with the toggle (else the system's), set before the first paint. A classic
// script, not a module, so that it runs before the page is drawn.
try {
  const t = localStorage.getItem('sipwsAdmin.theme');
  if (t === 'light' || t === 'dark') document.documentElement.dataset.theme = t;
} catch (e) {
  // No storage (privacy mode): the system's scheme.
}
