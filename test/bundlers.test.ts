/**
 * Real builds, served untouched from a directory: the file lists that 12 real bundler set-ups
 * emitted (test/fixtures/bundlers/, made by scripts/bundler-corpus/ with the bundlers'
 * own word on which files they hash), each served by a node with DEFAULT options. Every file
 * hashed by its bundler's design must be 200 and immutable; no file emitted unhashed may be
 * immutable. Bodies are stand-ins (the path as text) except the manifests a server reads,
 * which are the builds' own bytes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Edge } from '../src/edge.js';
import { loadCorpora, requestable, writeBuild, type Corpus } from './helpers/bundler-corpus.js';
import { startTestEdge } from './helpers/edge.js';
import { errorCode, request } from './helpers/http.js';
import { tempDir, writeFiles, type TempDir } from './helpers/temp-dir.js';

let corpora: Corpus[] = [];
let root: TempDir;

before(async () => {
  root = await tempDir('bundlers');
  corpora = await loadCorpora();
});

after(async () => {
  await root?.remove();
});

/** Writes a corpus as a build directory and starts a node on it with default options. */
async function serveCorpus(corpus: Corpus): Promise<Edge> {
  const dir = root.path(corpus.setup);
  await writeBuild(corpus, dir);
  return startTestEdge({ origin: dir });
}

test('the corpus covers the bundlers the README names, and each labels hashed and unhashed files', () => {
  const setups = corpora.map((c) => c.setup);
  for (const setup of ['vite', 'vite-manifest', 'rollup', 'webpack-contenthash', 'webpack-default', 'esbuild', 'parcel', 'next-turbopack', 'next-webpack', 'sveltekit', 'astro']) {
    assert.ok(setups.includes(setup), `fixture ${setup} is missing`);
  }
  const files = corpora.flatMap((c) => c.files);
  assert.ok(files.filter((f) => f.hashed).length >= 100, 'at least 100 hashed files');
  assert.ok(files.filter((f) => !f.hashed).length >= 50, 'at least 50 unhashed files');
});

test('every file a bundler hashes by design is served immutable, and no file it emits unhashed is', async (t) => {
  for (const corpus of corpora) {
    await t.test(`${corpus.setup} (${Object.entries(corpus.tools).map(([k, v]) => `${k} ${v}`).join(', ')})`, async () => {
      const edge = await serveCorpus(corpus);
      try {
        const wrong: string[] = [];
        for (const file of corpus.files.filter((f) => requestable(f.path))) {
          const res = await request(`${edge.url}/${file.path.split('/').map(encodeURIComponent).join('/')}`, { headers: { 'hashedge-debug': '1' } });
          const immutable = res.status === 200 && /\bimmutable\b/.test(String(res.headers['cache-control']));
          const verdict = String(res.headers['hashedge-immutable']);
          if (file.hashed && !immutable) wrong.push(`hashed ${file.path} answered ${res.status} ${errorCode(res) ?? ''} (${verdict})`);
          if (!file.hashed && immutable) wrong.push(`UNHASHED ${file.path} served immutable (${verdict})`);
          if (!file.hashed) assert.equal(res.status, 404, `${file.path}: default options refuse what is not immutable`);
        }
        assert.deepEqual(wrong, []);
      } finally {
        await edge.close();
      }
    });
  }
});

test("Next.js's page payloads (__next.*.txt, rewritten by every build under the same name) are refused, and the verdict says why", async () => {
  const dir = root.path('next-payloads');
  await writeFiles(dir, { '__next.__PAGE__.txt': 'payload', 'faq/__next.faq.__PAGE__.txt': 'payload' });
  const edge = await startTestEdge({ origin: dir });
  try {
    for (const path of ['__next.__PAGE__.txt', 'faq/__next.faq.__PAGE__.txt']) {
      const res = await request(`${edge.url}/${path}`, { headers: { 'hashedge-debug': '1' } });
      assert.equal(res.status, 404, path);
      assert.equal(errorCode(res), 'E_NOT_HASHED');
      assert.equal(res.headers['hashedge-immutable'], 'no; page file: a Next.js page payload, never immutable');
    }
  } finally {
    await edge.close();
  }
});
