// hashedge sample asset: a small script served immutable from the edge.
// Its name carries the first 10 hex digits of the sha256 of these bytes.
const greeting = document.createElement('p');
greeting.textContent = 'Loaded from the hashedge edge: cached forever, fetched once per cluster.';
document.body.appendChild(greeting);
for (const link of document.querySelectorAll('link[rel=stylesheet], script[src]')) {
  const entry = performance.getEntriesByName(link.href || link.src)[0];
  if (entry) console.log(`${entry.name}: ${Math.round(entry.duration)} ms, ${entry.transferSize} bytes on the wire`);
}
export const version = 1;
