// A Rollup/Rolldown/Vite output plugin that records, for every chunk and asset it writes,
// which configured naming pattern produced its file name and whether that pattern has [hash].
// It imports nothing, so the per-app build scripts load it by absolute path.

function patternRegex(pattern) {
  const esc = pattern.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = esc
    .replace(/\\\[name\\\]/g, '.+?')
    .replace(/\\\[hash(:\d+)?\\\]/g, '[A-Za-z0-9_-]+')
    .replace(/\\\[extname\\\]/g, '(\\.[^/]*)?')
    .replace(/\\\[ext\\\]/g, '[^/]*')
    .replace(/\\\[format\\\]/g, '[a-z]+');
  return new RegExp(`^${re}$`);
}

function resolvePattern(outputOptions, key, info) {
  const p = outputOptions[key];
  return typeof p === 'function' ? p(info) : p;
}

/** record: a Map filled with fileName -> { hashed, why } */
export function labeler(record) {
  return {
    name: 'corpus-labeler',
    writeBundle(outputOptions, bundle) {
      for (const [fileName, item] of Object.entries(bundle)) {
        if (item.type === 'chunk') {
          const key = item.isEntry ? 'entryFileNames' : 'chunkFileNames';
          const pattern = resolvePattern(outputOptions, key, item);
          if (typeof pattern !== 'string' || !patternRegex(pattern).test(fileName)) {
            throw new Error(`chunk ${fileName} does not follow ${key} ${pattern}`);
          }
          record.set(fileName, { hashed: pattern.includes('[hash'), why: `${key} ${pattern}` });
        } else {
          const names = item.names ?? (item.name ? [item.name] : []);
          const pattern = resolvePattern(outputOptions, 'assetFileNames', item);
          if (names.length && typeof pattern === 'string' && patternRegex(pattern).test(fileName)) {
            record.set(fileName, { hashed: pattern.includes('[hash'), why: `assetFileNames ${pattern}` });
          } else {
            record.set(fileName, { hashed: false, why: 'asset emitted with an explicit fileName (no naming pattern)' });
          }
        }
      }
    },
  };
}
