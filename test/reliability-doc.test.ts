/**
 * docs/reliability.md names the tests behind each claim; this keeps it true: every quoted
 * title (or distinctive part of one) exists in the test file the row names, and every
 * hardening test file is on the page.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

const HARDENING_FILES = ['attacks.test.ts', 'properties.test.ts', 'integrity.test.ts', 'shutdown.test.ts', 'failures.test.ts', 'load.test.ts'];

test('docs/reliability.md names only tests that exist, and every hardening test file', async () => {
  const doc = await readFile(new URL('../docs/reliability.md', import.meta.url), 'utf8');
  const rows = [...doc.matchAll(/`([\w-]+\.test\.ts)` › ((?:"[^"]+"(?:, )?)+)/g)];
  assert.ok(rows.length >= 20, `only ${rows.length} rows reference tests`);
  for (const [, file, titles] of rows) {
    const source = await readFile(new URL(`./${file}`, import.meta.url), 'utf8');
    for (const [, title] of titles!.matchAll(/"([^"]+)"/g)) assert.ok(source.includes(title!), `${file} has no test titled like "${title}"`);
  }
  const named = new Set(rows.map(([, file]) => file));
  for (const file of HARDENING_FILES) assert.ok(named.has(file), `docs/reliability.md does not mention ${file}`);
});
