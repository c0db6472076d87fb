/**
 * Real builds through `hashedge upload` to S3 (s3rver), then served by a node with DEFAULT
 * options from that bucket: the file lists that 12 real bundler set-ups emitted
 * (test/fixtures/bundlers/, with the bundlers' own word on which files they hash). Upload must
 * not rename any file the bundler hashed (the build names it: a rename breaks the build), and
 * the edge must then serve every one of them immutable under its ORIGINAL path, and no file
 * emitted unhashed immutable. Bodies are stand-ins (the path as text) except the manifests a
 * server reads, which are the builds' own bytes. One s3rver, one bucket prefix and one edge
 * per corpus (an edge reads build manifests at its origin's root).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { S3Target } from '../src/upload/target-s3.js';
import { uploadDirectory } from '../src/upload/upload.js';
import { loadCorpora, requestable, writeBuild, type Corpus } from './helpers/bundler-corpus.js';
import { startTestEdge } from './helpers/edge.js';
import { errorCode, request } from './helpers/http.js';
import { startS3Server, S3RVER_CREDENTIALS, type S3TestServer } from './helpers/s3-server.js';
import { tempDir, type TempDir } from './helpers/temp-dir.js';

let corpora: Corpus[] = [];
let root: TempDir;
let s3: S3TestServer;

before(async () => {
  s3 = await startS3Server();
  // The edge's S3 origin takes its credentials from the standard AWS env chain.
  process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
  root = await tempDir('bundlers-s3');
  corpora = await loadCorpora();
});

after(async () => {
  await s3?.stop();
  await root?.remove();
});

test('the corpus is there: every bundler set-up, hashed and unhashed files', () => {
  assert.ok(corpora.length >= 12, `${corpora.length} corpora`);
  assert.ok(corpora.some((c) => c.files.some((f) => !requestable(f.path))), 'a dotfile (.vite/manifest.json) among them');
});

test('each build, uploaded to S3 with hashedge upload and served by an edge with default options: every file hashed by design is immutable under its original name, none emitted unhashed is', async (t) => {
  for (const corpus of corpora) {
    await t.test(`${corpus.setup} (${Object.entries(corpus.tools).map(([k, v]) => `${k} ${v}`).join(', ')})`, async () => {
      const dir = root.path(corpus.setup);
      await writeBuild(corpus, dir);
      const target = new S3Target({ bucket: s3.bucket, prefix: `${corpus.setup}/`, region: 'us-east-1', forcePathStyle: true, client: s3.client });
      const uploaded = await uploadDirectory({ dir, target, manifestFile: null });
      assert.deepEqual(uploaded.files.filter((f) => f.status === 'failed').map((f) => `${f.source}: ${f.error?.message}`), []);
      const results = new Map(uploaded.files.map((f) => [f.source, f]));
      assert.deepEqual(
        corpus.files.filter((f) => f.hashed && results.get(f.path)?.path !== f.path).map((f) => `${f.path} -> ${results.get(f.path)?.path} (${results.get(f.path)?.reason})`),
        [],
        'upload renamed no file the bundler hashed',
      );
      assert.deepEqual(corpus.files.filter((f) => f.hashed && !results.get(f.path)?.immutable).map((f) => `${f.path}: ${results.get(f.path)?.reason}`), [], 'and uploaded each immutable');

      const edge = await startTestEdge({ origin: `s3://${s3.bucket}/${corpus.setup}`, 's3-endpoint': s3.endpoint, 's3-force-path-style': 'true' });
      try {
        const wrong: string[] = [];
        await Promise.all(corpus.files.filter((f) => requestable(f.path)).map(async (file) => {
          const res = await request(`${edge.url}/${file.path.split('/').map(encodeURIComponent).join('/')}`, { headers: { 'hashedge-debug': '1' } });
          const immutable = res.status === 200 && /\bimmutable\b/.test(String(res.headers['cache-control']));
          const verdict = String(res.headers['hashedge-immutable']);
          const upload = results.get(file.path)!;
          if (file.hashed && !immutable) wrong.push(`hashed ${file.path} answered ${res.status} ${errorCode(res) ?? ''} (${verdict})`);
          if (!file.hashed && immutable) wrong.push(`UNHASHED ${file.path} served immutable (${verdict}; upload: ${upload.decision}, ${upload.reason})`);
          if (!file.hashed) {
            // Kept under its name (no-cache): refused as not immutable. Renamed: not at its old name.
            const expected = upload.path === file.path ? 'E_NOT_HASHED' : 'E_NOT_FOUND';
            if (res.status !== 404 || errorCode(res) !== expected) wrong.push(`unhashed ${file.path} (upload: ${upload.decision} -> ${upload.path}) answered ${res.status} ${errorCode(res) ?? ''}, expected 404 ${expected}`);
          }
        }));
        assert.deepEqual(wrong.sort(), []);
      } finally {
        await edge.close();
      }
    });
  }
});
