/**
 * docs/architecture.md's layout block is kept true to the tree: it names every file of src/,
 * and every path it names exists. Entries are the block's lines indented 0 (repository root)
 * or 2 (under src/) whose first word is a path (ends in `.ts` or `/`); deeper lines continue
 * the entry above.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');

function layoutBlock(): string[] {
  const match = /## Layout[^\n]*\n[\s\S]*?```\n([\s\S]*?)```/.exec(doc);
  assert.ok(match, 'docs/architecture.md has a "## Layout" section with a code block');
  return match[1]!.split('\n');
}

/** Paths the layout names, relative to the repository root. */
function namedPaths(): string[] {
  const paths: string[] = [];
  for (const line of layoutBlock()) {
    const entry = /^( {0}| {2})(\S+)/.exec(line);
    if (!entry || !/(\.ts|\/)$/.test(entry[2]!)) continue;
    paths.push(entry[1] === '' ? entry[2]! : `src/${entry[2]}`);
  }
  return paths;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(ROOT, path)] : [];
  });
}

test('the layout names only paths that exist', () => {
  const named = namedPaths();
  assert.ok(named.includes('src/cache/group.ts'), 'the block is read');
  assert.deepEqual(named.filter((path) => !existsSync(join(ROOT, path))), []);
});

test('the layout names every file of src/', () => {
  const named = new Set(namedPaths());
  assert.deepEqual(sourceFiles(join(ROOT, 'src')).filter((file) => !named.has(file)).sort(), []);
});

test('no file is named twice', () => {
  const named = namedPaths();
  assert.deepEqual(named.filter((path, i) => named.indexOf(path) !== i), []);
});
