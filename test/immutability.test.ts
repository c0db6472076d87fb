/**
 * Why a key is immutable, from each source of evidence in its documented order, through real
 * nodes on real sockets: operator rules, page files, framework presets, build manifests at the
 * origin (re-read when they change), the origin's stored Cache-Control (a real S3-compatible
 * server, and through a key's owner in a cluster), and the name. The Hashedge-Debug request
 * header shows the verdict; 404 E_NOT_HASHED says what would serve the key.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveConfig } from '../src/config.js';
import { startEdge, type Edge } from '../src/edge.js';
import { Ring } from '../src/cluster/ring.js';
import { startCluster } from './helpers/cluster.js';
import { startTestEdge } from './helpers/edge.js';
import { errorCode, request, type TestResponse } from './helpers/http.js';
import { TestOrigin } from './helpers/origins.js';
import { startS3Server, S3RVER_CREDENTIALS, type S3TestServer } from './helpers/s3-server.js';
import { tempDir, writeFiles, type TempDir } from './helpers/temp-dir.js';

let root: TempDir;

before(async () => {
  root = await tempDir('immutability');
});

after(async () => {
  await root?.remove();
});

/** A directory origin holding these files (path -> body), under the suite's root. */
async function origin(name: string, files: Record<string, string>): Promise<string> {
  await writeFiles(root.path(name), files);
  return root.path(name);
}

const ask = (edge: Edge, path: string) => request(`${edge.url}/${path}`, { headers: { 'hashedge-debug': '1' } });

function assertImmutable(res: TestResponse, reason: string, path = ''): void {
  assert.equal(res.status, 200, `${path}: ${res.body.toString()}`);
  assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable', path);
  assert.equal(res.headers['hashedge-immutable'], `yes; ${reason}`, path);
}

function assertRefused(res: TestResponse, reason: string, path = ''): void {
  assert.equal(res.status, 404, path);
  assert.equal(errorCode(res), 'E_NOT_HASHED', path);
  assert.equal(res.headers['hashedge-immutable'], `no; ${reason}`, path);
  assert.doesNotMatch(String(res.headers['cache-control']), /immutable/, path);
}

test('operator rules come first: --mutable wins over a hashed name, --immutable serves names with no hash', async () => {
  const dir = await origin('rules', {
    'fonts/inter-regular.woff2': 'font',
    'fonts/sub/inter-bold.woff2': 'font',
    'assets/config-0492830483.js': 'config',
    'assets/app-0492830483.js': 'app',
  });
  const edge = await startTestEdge({ origin: dir, immutable: 'fonts/**', mutable: 'assets/config-*.js' });
  try {
    assertImmutable(await ask(edge, 'fonts/inter-regular.woff2'), 'rule --immutable fonts/**');
    assertImmutable(await ask(edge, 'fonts/sub/inter-bold.woff2'), 'rule --immutable fonts/**');
    assertRefused(await ask(edge, 'assets/config-0492830483.js'), 'rule --mutable assets/config-*.js');
    assertImmutable(await ask(edge, 'assets/app-0492830483.js'), 'name: hex hash 0492830483');
  } finally {
    await edge.close();
  }
});

test('without evidence a key is refused, and the 404 names the flag that would serve it', async () => {
  const dir = await origin('none', { 'img/photo.jpg': 'jpeg' });
  const edge = await startTestEdge({ origin: dir });
  try {
    const res = await ask(edge, 'img/photo.jpg');
    assertRefused(res, 'no evidence: no content hash in the name, and no rule, preset or manifest names it');
    assert.match(JSON.parse(res.body.toString()).error.message, /--immutable 'img\/\*\*'.*--allow-unhashed/);
  } finally {
    await edge.close();
  }
  // --allow-unhashed serves it, with the short max-age and the verdict.
  const lenient = await startTestEdge({ origin: dir, 'allow-unhashed': 'true', 'unhashed-ttl': '30s' });
  try {
    const res = await ask(lenient, 'img/photo.jpg');
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=30');
    assert.match(String(res.headers['hashedge-immutable']), /^no; no evidence/);
  } finally {
    await lenient.close();
  }
});

test('page files are never immutable, whatever their name, preset or the origin says; only an operator rule can', async () => {
  const dir = await origin('pages', {
    'index-0492830483.html': '<!doctype html>',
    '_next/static/offline.html': '<!doctype html>',
    'robots.txt': 'User-agent: *',
    'sw.js': 'self.addEventListener("fetch", () => {})',
    'site.webmanifest': '{}',
    '_app/version.json': '{"version":"1"}',
  });
  const edge = await startTestEdge({ origin: dir });
  try {
    assertRefused(await ask(edge, 'index-0492830483.html'), 'page file: an HTML page, never immutable');
    assertRefused(await ask(edge, '_next/static/offline.html'), 'page file: an HTML page, never immutable');
    assertRefused(await ask(edge, 'robots.txt'), 'page file: a site file, never immutable');
    assertRefused(await ask(edge, 'sw.js'), 'page file: a service worker, never immutable');
    assertRefused(await ask(edge, 'site.webmanifest'), 'page file: a web app manifest, never immutable');
    assertRefused(await ask(edge, '_app/version.json'), 'page file: a version file, never immutable');
  } finally {
    await edge.close();
  }
  const operator = await startTestEdge({ origin: dir, immutable: '_next/static/**' });
  try {
    assertImmutable(await ask(operator, '_next/static/offline.html'), 'rule --immutable _next/static/**');
  } finally {
    await operator.close();
  }
});

test('framework presets: folders immutable by their framework, on by default, --presets chooses', async () => {
  const dir = await origin('presets', {
    '_next/static/chunks/0cz1d0mv5g_q7.js': 'turbopack chunk',
    'docs/_next/static/css/09b3da0d2a04fdc6.css': 'basePath',
    '_app/immutable/chunks/6HahEOjm.js': 'sveltekit',
    '_astro/Island.astro_astro_type_script_index_0_lang.js': 'astro',
    '_nuxt/entry.js': 'nuxt',
    '_nuxt/builds/meta/4f6b.json': '{}',
    '_nuxt/builds/latest.json': '{}',
    'assets/lazy-loader.js': 'vite',
  });
  const edge = await startTestEdge({ origin: dir });
  try {
    assertImmutable(await ask(edge, '_next/static/chunks/0cz1d0mv5g_q7.js'), 'preset nextjs: _next/static/**');
    assertImmutable(await ask(edge, 'docs/_next/static/css/09b3da0d2a04fdc6.css'), 'preset nextjs: _next/static/**');
    assertImmutable(await ask(edge, '_app/immutable/chunks/6HahEOjm.js'), 'preset sveltekit: _app/immutable/**');
    assertImmutable(await ask(edge, '_astro/Island.astro_astro_type_script_index_0_lang.js'), 'preset astro: _astro/**');
    assertImmutable(await ask(edge, '_nuxt/entry.js'), 'preset nuxt: _nuxt/**');
    assertImmutable(await ask(edge, '_nuxt/builds/meta/4f6b.json'), 'preset nuxt: _nuxt/**');
    // Rewritten on every Nuxt deploy under the same name.
    assertRefused(await ask(edge, '_nuxt/builds/latest.json'), 'no evidence: no content hash in the name, and no rule, preset or manifest names it');
    // Vite's assets/ is not a preset by default (public/ files may share it).
    assert.equal((await ask(edge, 'assets/lazy-loader.js')).status, 404);
  } finally {
    await edge.close();
  }
  const chosen = await startTestEdge({ origin: dir, presets: 'vite' });
  try {
    assertImmutable(await ask(chosen, 'assets/lazy-loader.js'), 'preset vite: assets/**');
    assert.equal((await ask(chosen, '_app/immutable/chunks/6HahEOjm.js')).status, 404);
  } finally {
    await chosen.close();
  }
});

test("build manifests at the origin's root list immutable files, and are read again when they change", async () => {
  const vite = { 'index.html': { file: 'assets/polyfill-abcdefgh.js', css: ['assets/theme-lightest.css'], isEntry: true } };
  const dir = await origin('manifests', {
    '.vite/manifest.json': JSON.stringify(vite),
    'assets/polyfill-abcdefgh.js': 'listed by Vite, but its hash reads as a word',
    'assets/theme-lightest.css': 'listed by Vite',
    'assets/later-abcdefgh.js': 'listed by the next build',
    // hashedge upload's manifest: only entries it marked immutable count.
    'manifest.json': JSON.stringify({ version: 1, assets: { 'img/photo.jpg': { path: 'img/photo.jpg', size: 4, sha256: '0'.repeat(64), immutable: true }, 'index.html': { path: 'index.html', size: 1, sha256: '1'.repeat(64), immutable: false } } }),
    'img/photo.jpg': 'jpeg',
  });
  const edge = await startTestEdge({ origin: dir });
  try {
    assertImmutable(await ask(edge, 'assets/polyfill-abcdefgh.js'), 'manifest .vite/manifest.json');
    assertImmutable(await ask(edge, 'assets/theme-lightest.css'), 'manifest .vite/manifest.json');
    assertImmutable(await ask(edge, 'img/photo.jpg'), 'manifest manifest.json');
    assert.equal((await ask(edge, 'assets/later-abcdefgh.js')).status, 404);
    // A new build's manifest, read again (as every 30 s): its files are served without a restart.
    await writeFiles(dir, { '.vite/manifest.json': JSON.stringify({ 'index.html': { file: 'assets/later-abcdefgh.js' } }) });
    await edge.manifests.refresh();
    assertImmutable(await ask(edge, 'assets/later-abcdefgh.js'), 'manifest .vite/manifest.json');
    // A web app manifest at manifest.json is not a build manifest: it lists nothing.
    await writeFiles(dir, { 'manifest.json': JSON.stringify({ name: 'My App', icons: [{ src: 'img/other.jpg' }] }), 'img/other.jpg': 'jpeg' });
    await edge.manifests.refresh();
    assert.equal((await ask(edge, 'img/other.jpg')).status, 404);
  } finally {
    await edge.close();
  }
});

test("the origin's word: an S3 object stored with Cache-Control immutable (or max-age of a year) is immutable, others are refused", async () => {
  let s3: S3TestServer | undefined;
  let edge: Edge | undefined;
  try {
    s3 = await startS3Server({ bucket: 'words' });
    await s3.put('site/img/hero.jpg', 'jpeg', 'image/jpeg', undefined, 'public, max-age=31536000, immutable');
    await s3.put('site/img/banner.jpg', 'jpeg', 'image/jpeg', undefined, 'max-age=31536000');
    await s3.put('site/img/news.jpg', 'jpeg', 'image/jpeg', undefined, 'max-age=300');
    await s3.put('site/img/plain.jpg', 'jpeg', 'image/jpeg');
    // The page list ranks above the origin's word: a blanket --cache-control cannot pin HTML.
    await s3.put('site/index.html', '<!doctype html>', 'text/html', undefined, 'public, max-age=31536000, immutable');
    process.env.AWS_ACCESS_KEY_ID = S3RVER_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = S3RVER_CREDENTIALS.secretAccessKey;
    edge = await startEdge(resolveConfig({ port: '0', host: '127.0.0.1', origin: `s3://${s3.bucket}/site`, 's3-endpoint': s3.endpoint, 's3-force-path-style': 'true' }));
    assertImmutable(await ask(edge, 'img/hero.jpg'), 'origin Cache-Control: public, max-age=31536000, immutable');
    assertImmutable(await ask(edge, 'img/hero.jpg'), 'origin Cache-Control: public, max-age=31536000, immutable');
    assertImmutable(await ask(edge, 'img/banner.jpg'), 'origin Cache-Control: max-age=31536000');
    const refused = 'no evidence: no content hash in the name, and no rule, preset or manifest names it';
    assertRefused(await ask(edge, 'img/news.jpg'), refused);
    assertRefused(await ask(edge, 'img/plain.jpg'), refused);
    assertRefused(await ask(edge, 'index.html'), 'page file: an HTML page, never immutable');
  } finally {
    await edge?.close();
    await s3?.stop();
  }
});

test("the origin's word reaches every node through the key's owner, and a refused key costs the origin one request per --negative-ttl", async () => {
  const testOrigin = new TestOrigin();
  testOrigin.storesCacheControl = true;
  const nodes = await startCluster(2, testOrigin);
  try {
    const owner = new Ring(nodes.map((n) => n.cluster!.self)).owner('img/hero.jpg');
    const asked = nodes.find((n) => n.cluster!.self !== owner)!;
    testOrigin.put('img/hero.jpg', 'jpeg', { cacheControl: 'public, max-age=31536000, immutable' });
    const res = await ask(asked, 'img/hero.jpg');
    assertImmutable(res, 'origin Cache-Control: public, max-age=31536000, immutable');
    // From the owner, and kept here too (this node's memory has room): with the owner's word.
    assert.equal(res.headers['cache-status'], 'hashedge; fwd=miss; stored; detail=owner');
    assert.equal(testOrigin.count('img/hero.jpg'), 1);

    testOrigin.put('img/plain.jpg', 'jpeg');
    for (let i = 0; i < 3; i++) assert.equal((await ask(nodes[0]!, 'img/plain.jpg')).status, 404);
    assert.equal(testOrigin.count('img/plain.jpg'), 1, 'the refusal is remembered like a 404');
  } finally {
    await Promise.all(nodes.map((n) => n.close()));
  }
});
