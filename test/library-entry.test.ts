/**
 * package.json's "main" (dist/index.js) is built from src/index.ts, a typed library entry:
 * start an edge from a resolved Config, or use the group with an Origin of one's own.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { GroupOptions, Lookup, Origin, OriginObject, Verdict } from '../src/index.js';
import * as hashedge from '../src/index.js';

const root = new URL('../', import.meta.url);

test('"main" is dist/index.js, built from src/index.ts (tsconfig.build.json: src -> dist)', () => {
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { main: string };
  const build = JSON.parse(readFileSync(new URL('tsconfig.build.json', root), 'utf8')) as { compilerOptions: { rootDir: string; outDir: string } };
  assert.equal(pkg.main, 'dist/index.js');
  assert.deepEqual([build.compilerOptions.rootDir, build.compilerOptions.outDir], ['src', 'dist']);
  assert.ok(existsSync(new URL('src/index.ts', root)));
});

test('the entry exports the edge, the config, the group and the origins', () => {
  for (const name of ['startEdge', 'resolveConfig', 'readConfigFile', 'Group', 'createOrigin', 'DiskOrigin', 'EdgeError', 'createLogger']) {
    assert.equal(typeof (hashedge as Record<string, unknown>)[name], 'function', name);
  }
  assert.equal(hashedge.BUFFER_WHOLE_BYTES, 1024 * 1024);
  assert.equal(hashedge.HOT_AFTER_REQUESTS, 2);
});

test("a group over an Origin of one's own, through the entry alone", async () => {
  const origin: Origin = {
    description: 'memory',
    async get(key): Promise<OriginObject | null> {
      if (key !== 'app-0492830483.js') return null;
      const { Readable } = await import('node:stream');
      return { body: Readable.from([Buffer.from('export {};')]), size: 10, contentType: undefined, lastModified: undefined };
    },
    async close() {},
  };
  const options: GroupOptions = {
    origin, cacheSize: 1024 * 1024, maxObjectSize: 1024 * 1024, originTimeout: 1_000, negativeTtl: 1_000, unhashedTtl: 0,
    brotliQuality: 4, log: hashedge.silentLogger,
  };
  const group = new hashedge.Group(options);
  const verdict: Verdict = { immutable: true, reason: 'test', open: false };
  const found: Lookup = await group.lookup('app-0492830483.js', verdict);
  assert.equal(found.kind, 'blob');
  assert.equal((await group.lookup('missing-0492830483.js', verdict)).kind, 'not-found');
});

test('resolveConfig with no flags gives a Config startEdge accepts', () => {
  const config: Parameters<typeof hashedge.startEdge>[0] = hashedge.resolveConfig({});
  assert.equal(config.origin.kind, 'disk');
});
