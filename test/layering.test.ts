/**
 * Dependencies point one way (docs/architecture.md): each module of src/ imports only from its
 * own layer or lower ones, and no module reaches itself through its imports (type-only and
 * dynamic imports included). Imports are read with TypeScript's own pre-processor, not run.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * Low to high. A module may import from its own layer and the ones before it. Paths ending in
 * `/` are directories (every file under them).
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['units.ts', 'errors.ts', 'bearer.ts'], // leaves: import nothing of ours
  ['log.ts'],
  ['origin/'], // the Origin interface and its stores
  ['asset/'], // keys and immutability evidence (reads manifests from an origin)
  ['config.ts'], // the option table (presets from asset/, OriginSpec from origin/)
  ['cache/'], // the group; knows nothing of HTTP or the cluster (PeerPicker is its own interface)
  ['cluster/'], // membership, ring, health, peer client, the group's PeerPicker
  ['stats/'], // counters and /metrics (read the group and the cluster's status)
  ['http/'], // the server: fast path, admin, purge, the peer route
  ['edge.ts'], // one node assembled
  ['workers/', 'upload/'], // a node of n workers (each an edge); `hashedge upload`'s work
  ['commands/'],
  ['cli.ts', 'index.ts'], // the two entries: the command line and the library
];

function layerOf(file: string): number {
  return LAYERS.findIndex((layer) => layer.some((entry) => (entry.endsWith('/') ? file.startsWith(entry) : file === entry)));
}

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [relative(SRC, path)] : [];
  });
}

/** The src/ files `file` imports (static, type-only, re-exports and dynamic import()). */
function importsOf(file: string): string[] {
  const { importedFiles } = ts.preProcessFile(readFileSync(join(SRC, file), 'utf8'), true, true);
  return importedFiles
    .map(({ fileName }) => fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(SRC, resolve(dirname(join(SRC, file)), spec)).replace(/\.js$/, '.ts'));
}

const files = sourceFiles().sort();
const graph = new Map(files.map((file) => [file, importsOf(file)]));

test('every module of src/ has a layer', () => {
  assert.deepEqual(files.filter((file) => layerOf(file) < 0), [], 'place new files or directories in LAYERS');
});

test('every relative import names a file of src/', () => {
  const missing = [...graph].flatMap(([file, imports]) => imports.filter((target) => !graph.has(target)).map((target) => `${file} -> ${target}`));
  assert.deepEqual(missing, []);
});

test('no module imports from a higher layer', () => {
  const upward = [...graph].flatMap(([file, imports]) =>
    imports.filter((target) => layerOf(target) > layerOf(file)).map((target) => `${file} (layer ${layerOf(file)}) -> ${target} (layer ${layerOf(target)})`),
  );
  assert.deepEqual(upward, []);
});

test('there is no import cycle', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'visiting') {
      cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
      return;
    }
    state.set(file, 'visiting');
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of files) visit(file, []);
  assert.deepEqual(cycles, []);
});

test('the check itself sees upward imports and cycles', () => {
  assert.ok(layerOf('cache/group.ts') < layerOf('http/server.ts'));
  assert.ok(graph.get('edge.ts')?.includes('cache/group.ts'), 'imports are read');
  assert.ok(graph.get('origin/create.ts')?.includes('origin/s3.ts'), 'dynamic import() is read');
});
