/**
 * The name rules (asset/hashed-name.ts), the last evidence of immutability, measured the way
 * the README quotes them: over 100,000 generated hashes of each bundler format served outside
 * a preset folder, the share the rules refuse (they must refuse fewer than 0.5%); over 1,528
 * real unhashed file names from popular packages' dist folders
 * (test/fixtures/unhashed-names.txt), none taken for a hash. Generation is seeded, so the
 * rates are the same on every run and the bound cannot flake.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { findNameHash, isContentHashedName } from '../src/asset/hashed-name.js';
import { englishScore, WORD_THRESHOLD } from '../src/asset/word-shape.js';

/** mulberry32: a small seeded PRNG, so every run draws the same hashes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const HEX = '0123456789abcdef';
/** Stems as real builds name chunks (from the bundler corpus and the issue's examples). */
const STEMS = ['index', 'main', 'vendor', 'FAQ', 'Tabs', 'GanttChart', 'lazy', 'style', 'app', 'chunk', 'vendor-react', 'Corpus', 'logo', 'client', 'runtime', 'polyfills', 'entry', 'page', 'layout', 'Island'];
const SAMPLES = 100_000;

/** Bundlers' `[name]-[hash]` / `[name].[hash]` names, with the hash characters they use. */
const FORMATS: ReadonlyArray<{ name: string; alphabet: string; length: number; build: (stem: string, hash: string) => string }> = [
  { name: 'Vite / Rollup / Rolldown / Astro [name]-[hash] (8 base64url)', alphabet: BASE64URL, length: 8, build: (s, h) => `${s}-${h}.js` },
  { name: 'esbuild [name]-[hash] (8 base32)', alphabet: BASE32, length: 8, build: (s, h) => `${s}-${h}.js` },
  { name: 'webpack [name].[contenthash] (20 hex)', alphabet: HEX, length: 20, build: (s, h) => `${s}.${h}.js` },
  { name: 'webpack [name].[contenthash:8] (8 hex)', alphabet: HEX, length: 8, build: (s, h) => `${s}.${h}.js` },
  { name: 'webpack [hash][ext] (20 hex, the whole name)', alphabet: HEX, length: 20, build: (_s, h) => `${h}.svg` },
  { name: 'Parcel [name].[hash] (8 hex)', alphabet: HEX, length: 8, build: (s, h) => `${s}.${h}.js` },
];

/** The share of generated names the rules do not take for hashed, and a few examples. */
function refusalRate(format: (typeof FORMATS)[number], seed: number): { rate: number; examples: string[] } {
  const random = prng(seed);
  const pick = (s: string) => s[Math.floor(random() * s.length)]!;
  let refused = 0;
  const examples: string[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    let hash = '';
    for (let j = 0; j < format.length; j++) hash += pick(format.alphabet);
    const name = format.build(STEMS[Math.floor(random() * STEMS.length)]!, hash);
    if (!isContentHashedName(name)) {
      refused++;
      if (examples.length < 5) examples.push(name);
    }
  }
  return { rate: refused / SAMPLES, examples };
}

test('over 100,000 generated hashes of each bundler format, the name rules refuse fewer than 0.5%', (t) => {
  FORMATS.forEach((format, i) => {
    const { rate, examples } = refusalRate(format, 0x5eed + i);
    t.diagnostic(`${format.name}: ${(rate * 100).toFixed(3)}% refused${examples.length ? ` (e.g. ${examples.join(', ')})` : ''}`);
    assert.ok(rate < 0.005, `${format.name}: ${(rate * 100).toFixed(3)}% refused, e.g. ${examples.join(', ')}`);
  });
});

test('no real unhashed asset name from popular packages is taken for a hash (at least 500 names)', () => {
  const lines = readFileSync(new URL('./fixtures/unhashed-names.txt', import.meta.url), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const names = new Set(lines.map((l) => l.slice(l.lastIndexOf('/') + 1)));
  assert.ok(names.size >= 500, `only ${names.size} names`);
  const taken = [...names].map((n) => [n, findNameHash(n)] as const).filter(([, h]) => h !== undefined).map(([n, h]) => `${n} (${h!.format} ${h!.token})`);
  assert.deepEqual(taken, []);
});

test('shapes that are never hashes: framework markers, upper-case words, library names, dates, ids, UUIDs', () => {
  for (const name of [
    '__next.__PAGE__.txt', '__next.faq.__PAGE__.txt', 'page-__layout__.js',
    'docs-README.md', 'notes-CHANGELOG.md', 'app-OVERVIEW.js', 'LICENSE-MIT.txt',
    'core-js-polyfill.js', 'chart-annotation.js', 'jquery-ui.min.js', 'font-awesome.css', 'fontawesome-webfont.woff2',
    'OpenSans-SemiBold.woff2', 'Roboto-BoldItalic.ttf', 'atom-one-dark.css', 'prism-tomorrow.css', 'html5shiv.min.js',
    'fa-v4compatibility.woff2', 'android-chrome-512x512.png', 'roboto-v30-latin-regular.woff2', 'jquery-3.7.1.min.js',
    'report-20241105.pdf', '12345678.jpg', 'deadbeef.js', 'app-deadbeefcafe.js', '550e8400-e29b-41d4-a716-446655440000.png',
    'S3Client.js', 'json2xml.js', 'Sha256Node.js', 'ui-icons_cc0000_256x240.png', '1f469-1f3fd-200d-2764-fe0f.svg', 'summernote-sr-RS-Latin.js',
  ]) {
    assert.equal(findNameHash(name), undefined, name);
  }
});

test("real hashes the old rules refused are hashes: Vite's word-like ones, webpack's hash-only names", () => {
  const cases: Record<string, string> = {
    'FAQ-Djixbf4o.js': 'base64url Djixbf4o',
    'Tabs-CibhyMFE.js': 'base64url CibhyMFE',
    'GanttChart-CsvzyFb1.js': 'base64url CsvzyFb1',
    'lazy-DeZuzid1.js': 'base64url DeZuzid1',
    'vendor-B-x_3kQ2.js': 'base64url B-x_3kQ2',
    '1774abd1ebe4f407de03.svg': 'hex 1774abd1ebe4f407de03',
    'main.3f2a9b1c.js': 'hex 3f2a9b1c',
    'index-5XHQKZ2N.js': 'base32 5XHQKZ2N',
    '0.DltneJ6k.css': 'base64url DltneJ6k',
  };
  for (const [name, expected] of Object.entries(cases)) {
    const hash = findNameHash(name);
    assert.equal(hash === undefined ? undefined : `${hash.format} ${hash.token}`, expected, name);
  }
});

test('"reads as English" separates words from random letters as the thresholds assume', (t) => {
  const random = prng(7);
  const scores: number[] = [];
  for (let i = 0; i < 20_000; i++) {
    let s = '';
    for (let j = 0; j < 6; j++) s += 'abcdefghijklmnopqrstuvwxyz'[Math.floor(random() * 26)];
    scores.push(englishScore(s));
  }
  const above = scores.filter((s) => s >= WORD_THRESHOLD).length / scores.length;
  t.diagnostic(`random 6-letter runs reading as English: ${(above * 100).toFixed(1)}%`);
  assert.ok(above < 0.05, `${(above * 100).toFixed(1)}% of random 6-letter runs read as English`);
  for (const word of ['polyfill', 'regular', 'standalone', 'halflings', 'markercluster', 'highlight', 'settings', 'material']) {
    assert.ok(englishScore(word) >= WORD_THRESHOLD, `${word}: ${englishScore(word).toFixed(2)}`);
  }
});
