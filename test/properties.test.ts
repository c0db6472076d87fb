/**
 * Property-based tests (fast-check) from the hardening issue, over request paths,
 * percent-encodings, Range and conditional headers:
 *  1. key normalisation (pure): parseAssetPath refuses with a coded 4xx, or returns exactly the
 *     key an independent model of the rules documented in src/asset/key.ts gives, and that key
 *     is stable under re-encoding;
 *  2. raw paths over a socket to a real edge on a real disk origin (with a secret beside it and
 *     symlinks out of it): never a 5xx, never a byte from outside the origin, and every 200 is
 *     the bytes of the file the documented key names;
 *  3. Range / If-Range, cached and streamed (uncached) objects: every 206 slice equals the same
 *     slice of the 200 body, 416 only when nothing is satisfiable, 200 is the whole body;
 *  4. If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since against a model of
 *     RFC 9110 §13.2.2 (304 and 412 exactly when it says so).
 * The models are written from the documentation and the RFC, never by calling the code under test.
 *
 * Seeds are random per run. A failure prints the seed, the path and the shrunk counterexample;
 * replay it with
 *   FC_SEED=<seed> FC_PATH=<path> node --import tsx --test --test-name-pattern='<name>' test/properties.test.ts
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, symlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { MAX_PATH_BYTES, parseAssetPath } from '../src/asset/key.js';
import { EdgeError } from '../src/errors.js';
import type { Edge } from '../src/edge.js';
import { startTestEdge } from './helpers/edge.js';
import { errorCode, request, type TestResponse } from './helpers/http.js';
import { parseMultipart } from './helpers/multipart.js';
import { tempDir, type TempDir } from './helpers/temp-dir.js';

/** Runs per property: the pure one is cheap; the others are a request each (a few ms on a busy machine). */
const RUNS = { key: 2000, disk: 300, range: 300, conditional: 300 } as const;

/** fast-check parameters: the failing assertion's message goes into the report with the seed and path. */
function params(numRuns: number): { numRuns: number; includeErrorInReport: true; seed?: number; path?: string; endOnFailure?: boolean } {
  const seed = process.env['FC_SEED'];
  const path = process.env['FC_PATH'];
  return { numRuns, includeErrorInReport: true, ...(seed ? { seed: Number(seed) } : {}), ...(path ? { path, endOnFailure: true } : {}) };
}

// ---------------------------------------------------------------------------------------------
// The key model: the rules of src/asset/key.ts's doc comment, written independently
// ---------------------------------------------------------------------------------------------

type KeyModel = { readonly ok: true; readonly key: string } | { readonly ok: false; readonly refusals: ReadonlySet<string> };

/**
 * Percent-decodes once into bytes, then reads them as strict UTF-8 (overlong forms, surrogates
 * and truncated sequences are errors). Raw characters in the grammars below are ASCII.
 */
function decodeOnce(raw: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c !== '%') {
      bytes.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const hex = raw.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/**
 * The documented normalisation. A refusal is the set of every `status code` a violated rule
 * answers with: the docs order the rules but not which of several violated ones must win.
 */
function modelKey(url: string): KeyModel {
  const refusals = new Set<string>();
  const refuse = (): KeyModel => ({ ok: false, refusals });
  // 1. query string and fragment dropped
  const cut = url.search(/[?#]/);
  const raw = cut === -1 ? url : url.slice(0, cut);
  // 2. starts with `/`, at most MAX_PATH_BYTES
  if (Buffer.byteLength(raw, 'utf8') > MAX_PATH_BYTES) refusals.add('414 E_URI_TOO_LONG');
  if (!raw.startsWith('/')) refusals.add('400 E_BAD_PATH');
  // 3. encoded slash, backslash, percent
  if (/%(2f|5c|25)/i.test(raw)) refusals.add('400 E_BAD_PATH');
  // 4. decoded exactly once, as UTF-8
  const path = decodeOnce(raw);
  if (path === undefined) {
    refusals.add('400 E_BAD_PATH');
    return refuse();
  }
  // 5. control bytes (C0, DEL) and backslash
  for (const ch of path) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x20 || cp === 0x7f || ch === '\\') refusals.add('400 E_BAD_PATH');
  }
  // 6. empty, `.`, `..` segments; dotfiles; directories
  const key = path.slice(1);
  if (key === '' || key.endsWith('/')) refusals.add('404 E_NOT_FOUND');
  const segments = key.split('/');
  segments.forEach((segment, i) => {
    if (segment === '') {
      if (i < segments.length - 1) refusals.add('400 E_BAD_PATH'); // a trailing '' is the directory case
    } else if (segment === '.' || segment === '..') {
      refusals.add('400 E_TRAVERSAL');
    } else if (segment.startsWith('.')) {
      refusals.add('404 E_DOTFILE');
    }
  });
  // 7. the decoded path without its leading `/`
  return refusals.size > 0 ? refuse() : { ok: true, key };
}

// ---------------------------------------------------------------------------------------------
// Path grammars
// ---------------------------------------------------------------------------------------------

function pct(byte: number, upper: boolean): string {
  const hex = byte.toString(16).padStart(2, '0');
  return `%${upper ? hex.toUpperCase() : hex}`;
}

/** Every UTF-8 byte of a string percent-encoded (ASCII letters included: `a` -> `%61`). */
function pctAll(text: string, upper: boolean): string {
  return [...Buffer.from(text, 'utf8')].map((b) => pct(b, upper)).join('');
}

/** Names of the disk fixture below, and near misses (case, Unicode normalisation). */
const NAMES = [
  'assets', 'dirlink', 'outside', 'origin', 'origin-evil', 'dir-0492830483.d', 'etc', 'passwd',
  'app-0492830483.js', 'logo-BwT4yKxK.png', 'main.3f2a9b1c.css', 'plain.txt', 'inner-0492830483.js',
  'link-0492830483.txt', 'inlink-0492830483.js', 'sib-0492830483.txt', 'secret-0492830483.txt',
  'caf%C3%A9-0492830483.txt', 'caf%c3%a9-0492830483.txt', 'cafe%CC%81-0492830483.txt', 'a%20b-0492830483.txt',
  'q%3Fx-0492830483.txt', '.env-0492830483.txt', '%2eenv-0492830483.txt', 'APP-0492830483.js', 'index-5XHQKZ2N.js',
];
const DOTS = ['.', '..', '...', '.env', '.git', '%2e', '%2e%2e', '%2E%2e', '.%2e', '%2e.'];
const FIXED_PCT = [
  '%2f', '%2F', '%5c', '%5C', '%25', '%252e', '%252f', '%00', '%0a', '%0D', '%09', '%1f', '%7f', '%7F', '%20', '%3f', '%3F', '%23',
  '%41', '%c0%ae', '%C0%AE', '%c0%af', '%e0%80%ae', '%C3%A9', '%c3', '%ED%A0%80', '%F4%90%80%80', '%F0%9F%98%80', '%ff', '%FE',
  '%EF%BB%BF', '%C2%80', '%C2%85', '%E2%80%A8', '%', '%2', '%zz', '%%', '%u002e', '%5C%2e', '%ef%bc%8f',
];
/** Raw characters a client can send (0x21-0x7e; Node's parser answers 400 to anything else). */
const RAW_VISIBLE = ['\\', ';', '@', ':', '+', '=', ',', '!', '$', '&', "'", '(', ')', '*', '"', '<', '>', '{', '}', '|', '^', '`', '[', ']', '~', '-', '_'];
/** Raw characters only the pure property can try: parseAssetPath must refuse them itself. */
const RAW_INVISIBLE = [' ', '\t', '\u0000', '\r\n', '\u007f', '\u0001'];
const SAFE = 'abcxyzABCXYZ0189-_~.';
/** Ways to climb out of a directory, in many encodings; most must be refused. */
const UP = [
  '../', '..%2f', '..%2F', '%2e%2e/', '%2E%2E%2F', '.%2e/', '%2e./', '..\\', '..%5c', '..%5C', '%252e%252e%252f', '%252e%252e/',
  '%c0%ae%c0%ae/', '%c0%ae%c0%ae%c0%af', '%e0%80%ae%e0%80%ae/', '..;/', '....//', '.../', '..%00/', '%u002e%u002e/',
  '..%ef%bc%8f', '%2e%2e%5c', './', './/', '..%2f%2e%2e%2f', '%2e%2e%e2%88%95', '%2e%2e%c0%af', '..%c1%9c',
];

function pathArbitrary(socket: boolean): fc.Arbitrary<string> {
  const atom = fc.oneof(
    { weight: 6, arbitrary: fc.string({ unit: fc.constantFrom(...SAFE), minLength: 1, maxLength: 6 }) },
    { weight: 6, arbitrary: fc.constantFrom(...NAMES) },
    { weight: 2, arbitrary: fc.constantFrom(...DOTS) },
    { weight: 2, arbitrary: fc.constantFrom(...FIXED_PCT) },
    { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 255 }), fc.boolean()).map(([b, upper]) => pct(b, upper)) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(fc.integer({ min: 0, max: 0x10ffff }), fc.boolean())
        .filter(([cp]) => cp < 0xd800 || cp > 0xdfff)
        .map(([cp, upper]) => pctAll(String.fromCodePoint(cp), upper)),
    },
    { weight: 2, arbitrary: fc.constantFrom(...RAW_VISIBLE, ...(socket ? [] : RAW_INVISIBLE)) },
  );
  const segment = fc.oneof(
    { weight: 1, arbitrary: fc.constant('') },
    { weight: 20, arbitrary: fc.array(atom, { minLength: 1, maxLength: 3 }).map((atoms) => atoms.join('')) },
  );
  // A segment that takes the path to around MAX_PATH_BYTES, raw or percent-encoded (a segment
  // this long is also too long a file name: ENAMETOOLONG at the origin).
  const long = fc.oneof(
    fc.integer({ min: MAX_PATH_BYTES - 60, max: MAX_PATH_BYTES + 10 }).map((n) => 'a'.repeat(n)),
    fc.integer({ min: 660, max: 690 }).map((n) => '%61'.repeat(n)),
  );
  const leading = socket
    ? fc.oneof({ weight: 20, arbitrary: fc.constant('/') }, { weight: 1, arbitrary: fc.constantFrom('//', '/%2f', '/./', '/../') })
    : fc.oneof(
        { weight: 20, arbitrary: fc.constant('/') },
        { weight: 1, arbitrary: fc.constantFrom('', '//', '\\', '%2F', '/%2F', './', '../', 'http://evil.example/', '*', 'a/') },
      );
  const tail = fc.oneof(
    { weight: 4, arbitrary: fc.constant('') },
    { weight: 1, arbitrary: fc.tuple(fc.constantFrom('?', '#', '?v=1#', '??', '#?'), fc.array(fc.oneof(atom, fc.constantFrom('/', '../', '?', '#')), { maxLength: 3 })).map(([mark, rest]) => mark + rest.join('')) },
  );
  const trailing = fc.oneof({ weight: 8, arbitrary: fc.constant('') }, { weight: 1, arbitrary: fc.constant('/') });
  return fc
    .tuple(leading, fc.array(segment, { minLength: 1, maxLength: 6 }), sometimes(fc.tuple(long, fc.nat()), 8), trailing, tail)
    .map(([lead, segments, pad, slash, rest]) => {
      if (pad !== undefined) segments.splice(pad[1] % (segments.length + 1), 0, pad[0]);
      return lead + segments.join('/') + slash + rest;
    });
}

/** `arbitrary` about `percent`% of the time, else undefined. */
function sometimes<T>(arbitrary: fc.Arbitrary<T>, percent: number): fc.Arbitrary<T | undefined> {
  return fc.oneof({ weight: 100 - percent, arbitrary: fc.constant(undefined) }, { weight: percent, arbitrary });
}

// ---------------------------------------------------------------------------------------------
// 1. Key normalisation (pure)
// ---------------------------------------------------------------------------------------------

test('property: parseAssetPath refuses with a coded 4xx or returns the documented key, stable under re-encoding', () => {
  fc.assert(
    fc.property(pathArbitrary(false), (url) => {
      const model = modelKey(url);
      let asset;
      try {
        asset = parseAssetPath(url);
      } catch (err) {
        assert.ok(err instanceof EdgeError, `not an EdgeError: ${String(err)}`);
        assert.ok(err.status >= 400 && err.status < 500, `status ${err.status}`);
        assert.match(err.code, /^E_[A-Z_]+$/);
        assert.equal(model.ok, false, `refused ${err.status} ${err.code}, but the documented key is ${JSON.stringify(model.ok && model.key)}`);
        assert.ok(!model.ok && model.refusals.has(`${err.status} ${err.code}`), `refused ${err.status} ${err.code}; the rules violated answer ${[...(model.ok ? [] : model.refusals)].join(', ')}`);
        return;
      }
      const { key } = asset;
      // (b) the documented key
      assert.ok(model.ok, `accepted as ${JSON.stringify(key)}, but the rules refuse it: ${[...(model.ok ? [] : model.refusals)].join(', ')}`);
      assert.equal(key, model.key);
      // (a) safe as an origin-relative name
      assert.ok(!key.startsWith('/') && !key.includes('\\') && !/[\u0000-\u001f\u007f]/.test(key), JSON.stringify(key));
      for (const segment of key.split('/')) assert.ok(segment !== '' && segment !== '.' && segment !== '..' && !segment.startsWith('.'), JSON.stringify(key));
      // (c) stable: re-encoded, it names itself; decoded again (a key has no `%`), it is unchanged
      const encoded = '/' + key.split('/').map(encodeURIComponent).join('/');
      if (encoded.length <= MAX_PATH_BYTES) assert.equal(parseAssetPath(encoded).key, key);
      assert.ok(!key.includes('%'), JSON.stringify(key));
      if (!/[?#]/.test(key)) assert.equal(parseAssetPath('/' + key).key, key);
    }),
    params(RUNS.key),
  );
});

// ---------------------------------------------------------------------------------------------
// The disk fixture: <parent>/origin is the origin; secrets sit beside it
// ---------------------------------------------------------------------------------------------

const SECRET = `hashedge-secret-${randomBytes(12).toString('hex')}`;
/** Fixed, with milliseconds: Last-Modified is floored to the second. */
const MTIME = new Date('2024-03-10T12:34:56.789Z');
const LAST_MODIFIED_MS = Date.parse('2024-03-10T12:34:56Z');

const js = Buffer.from(Array.from({ length: 40 }, (_, i) => `export const v${i} = ${i * 7919};\n`).join(''));
const css = Buffer.from('body { color: #14213d; }\n'.repeat(20));
/** Every regular file the origin serves, by key (symlinks inside the origin resolved). */
const FILES = new Map<string, Buffer>([
  ['assets/app-0492830483.js', js],
  ['assets/logo-BwT4yKxK.png', randomBytes(300)],
  ['main.3f2a9b1c.css', css],
  ['café-0492830483.txt', Buffer.from('café\n')],
  ['a b-0492830483.txt', Buffer.from('a space\n')],
  ['q?x-0492830483.txt', Buffer.from('a question mark\n')],
  ['plain.txt', Buffer.from('unhashed\n')],
  ['dir-0492830483.d/inner-0492830483.js', Buffer.from('inner()\n')],
  ['assets/inlink-0492830483.js', css], // a symlink to main.3f2a9b1c.css, inside the origin
]);

/** ~70 KB of JS-like text: compressible, so the edge keeps br and gzip variants. */
const text = Buffer.from(
  Array.from({ length: 1260 }, (_, i) => `export function handler${i.toString(36)}(e) { return e.detail ?? ${i % 17}; }\n`).join(''),
);
interface Asset {
  readonly key: string;
  readonly bytes: Buffer;
}
const RANGE_ASSETS: readonly Asset[] = [
  { key: 'ranges/empty-0492830483.bin', bytes: Buffer.alloc(0) },
  { key: 'ranges/one-0492830483.bin', bytes: randomBytes(1) },
  { key: 'ranges/kb-0492830483.bin', bytes: randomBytes(1029) },
  { key: 'ranges/text-0492830483.js', bytes: text },
];

let parent: TempDir;
let root: string;
/** Caches everything (and serves unhashed names, so any key reaches the disk). */
let cached: Edge;
/** --max-object-size 0: every non-empty object streams from the disk, uncached, every time. */
let streamed: Edge;

before(async () => {
  assert.ok(text.length > 65_000 && text.length < 75_000, `text fixture is ${text.length} bytes`);
  parent = await tempDir('props');
  root = parent.path('origin');
  for (const dir of ['origin/assets', 'origin/dir-0492830483.d', 'origin/ranges', 'outside', 'origin-evil']) await mkdir(parent.path(dir), { recursive: true });
  await parent.write('secret-0492830483.txt', SECRET);
  await parent.write('outside/secret-0492830483.txt', SECRET);
  await parent.write('origin-evil/secret-0492830483.txt', SECRET); // a sibling whose name starts with the root's
  await parent.write('origin/.env-0492830483.txt', SECRET); // inside, but a dotfile: never served
  for (const [key, bytes] of FILES) if (key !== 'assets/inlink-0492830483.js') await parent.write(`origin/${key}`, bytes);
  await symlink('../main.3f2a9b1c.css', join(root, 'assets/inlink-0492830483.js'));
  await symlink('../../secret-0492830483.txt', join(root, 'assets/link-0492830483.txt'));
  await symlink('../../outside', join(root, 'assets/dirlink'));
  await symlink('../../origin-evil/secret-0492830483.txt', join(root, 'assets/sib-0492830483.txt'));
  for (const { key, bytes } of RANGE_ASSETS) {
    await parent.write(`origin/${key}`, bytes);
    await utimes(join(root, key), MTIME, MTIME);
  }
  cached = await startTestEdge({ origin: root, 'allow-unhashed': true });
  streamed = await startTestEdge({ origin: root, 'max-object-size': '0' });
  for (const edge of [cached, streamed]) {
    for (const { key, bytes } of RANGE_ASSETS) {
      const res = await get(edge, key);
      assert.equal(res.status, 200, key);
      assert.ok(res.body.equals(bytes), key);
      assert.equal(res.headers['last-modified'], new Date(LAST_MODIFIED_MS).toUTCString());
    }
  }
});

after(async () => {
  await cached?.close();
  await streamed?.close();
  await parent?.remove();
});

function get(edge: Edge, key: string, headers: Record<string, string> = {}, method = 'GET'): Promise<TestResponse> {
  return request(edge.url, { path: '/' + key.split('/').map(encodeURIComponent).join('/'), headers, method });
}

function assertNot5xx(res: TestResponse, label: string): void {
  assert.ok(res.status < 500, `${res.status} for ${label}: ${res.body.toString().slice(0, 200)}`);
}

// ---------------------------------------------------------------------------------------------
// 2. Raw paths against a real edge on a real disk origin
// ---------------------------------------------------------------------------------------------

/** A served key written with random characters percent-encoded (any byte, either case). */
const encodedKnownKey = fc
  .tuple(fc.constantFrom(...FILES.keys()), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean())
  .map(([key, picks, upper]) => {
    const chars = [...key];
    const encode = new Set(picks.map((p) => p % chars.length));
    return '/' + chars.map((ch, i) => (encode.has(i) || !/^[A-Za-z0-9._~\-/@+=,!$&'()*:;]$/.test(ch) ? pctAll(ch, upper) : ch)).join('');
  });

/** Paths that climb towards the secret beside the origin, through each encoding of `..`. */
const towardsSecret = fc
  .tuple(
    fc.constantFrom('/', '/assets/', '/assets/dirlink/', '/dir-0492830483.d/', '/assets/x/', '/%2e/'),
    fc.array(fc.constantFrom(...UP), { minLength: 1, maxLength: 4 }),
    fc.constantFrom('secret-0492830483.txt', 'outside/secret-0492830483.txt', 'origin-evil/secret-0492830483.txt', 'origin/.env-0492830483.txt', 'etc/passwd'),
  )
  .map(([from, ups, target]) => from + ups.join('') + target);

test('property: raw paths over a socket never get a 5xx or a byte from outside the origin, and a 200 is the named file', async () => {
  const rawPath = fc.oneof({ weight: 3, arbitrary: pathArbitrary(true) }, { weight: 2, arbitrary: encodedKnownKey }, { weight: 2, arbitrary: towardsSecret });
  await fc.assert(
    fc.asyncProperty(rawPath, async (path) => {
      const res = await request(cached.url, { path });
      assertNot5xx(res, path);
      assert.ok(!res.body.includes(SECRET), `the secret leaked for ${path}`);
      assert.ok(!res.body.includes(parent.dir), `the origin's location leaked for ${path}`);
      const model = modelKey(path);
      const label = `${path} -> ${res.status} ${res.headers['x-hashedge-error'] ?? ''}`;
      if (!model.ok) {
        assert.ok(model.refusals.has(`${res.status} ${res.headers['x-hashedge-error']}`), `${label}; the rules violated answer ${[...model.refusals].join(', ')}`);
        return;
      }
      const expected = FILES.get(model.key) ?? RANGE_ASSETS.find((a) => a.key === model.key)?.bytes;
      if (expected === undefined) {
        assert.equal(res.status, 404, label);
        assert.equal(errorCode(res), 'E_NOT_FOUND', label);
      } else {
        assert.equal(res.status, 200, label);
        assert.ok(res.body.equals(expected), `${label}: not the bytes of ${model.key}`);
      }
    }),
    params(RUNS.disk),
  );
});

// ---------------------------------------------------------------------------------------------
// HTTP-dates (RFC 9110 §5.6.7): the three formats, written and read
// ---------------------------------------------------------------------------------------------

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const LONG_DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number) => String(n).padStart(2, '0');

type DateFormat = 'imf' | 'rfc850' | 'asctime';
function formatDate(ms: number, format: DateFormat): string {
  const d = new Date(ms);
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  const month = MONTHS[d.getUTCMonth()]!;
  if (format === 'imf') return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${month} ${d.getUTCFullYear()} ${time} GMT`;
  if (format === 'rfc850') return `${LONG_DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())}-${month}-${two(d.getUTCFullYear() % 100)} ${time} GMT`;
  return `${DAYS[d.getUTCDay()]} ${month} ${String(d.getUTCDate()).padStart(2, ' ')} ${time} ${d.getUTCFullYear()}`;
}

/** A valid HTTP-date as ms, else undefined (recipients ignore invalid dates). Case-sensitive. */
function readHttpDate(value: string): number | undefined {
  const m =
    /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d\d) ([A-Z][a-z]{2}) (\d{4}) (\d\d):(\d\d):(\d\d) GMT$/.exec(value) ??
    /^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\d\d)-([A-Z][a-z]{2})-(\d\d) (\d\d):(\d\d):(\d\d) GMT$/.exec(value);
  const a = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([A-Z][a-z]{2}) ( \d|\d\d) (\d\d):(\d\d):(\d\d) (\d{4})$/.exec(value);
  let day: number, mon: string, year: number, h: number, min: number, s: number;
  if (m) {
    [day, mon, year, h, min, s] = [Number(m[1]), m[2]!, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
    if (m[3]!.length === 2) {
      // rfc850: a year more than 50 years ahead is the most recent past year with those digits
      const now = new Date().getUTCFullYear();
      year += Math.floor(now / 100) * 100;
      if (year > now + 50) year -= 100;
    }
  } else if (a) {
    [mon, day, h, min, s, year] = [a[1]!, Number(a[2]), Number(a[3]), Number(a[4]), Number(a[5]), Number(a[6])];
  } else {
    return undefined;
  }
  const month = MONTHS.indexOf(mon);
  const daysInMonth = new Date(Date.UTC(2000, month + 1, 0)).getUTCDate() + (month === 1 && !(year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? -1 : 0);
  if (month < 0 || day < 1 || day > daysInMonth || h > 23 || min > 59 || s > 60) return undefined;
  const date = new Date(Date.UTC(2000, month, day, h, min, s));
  date.setUTCFullYear(year);
  return date.getTime();
}

test('the HTTP-date model reads what it writes', () => {
  const sample = Date.parse('1994-11-06T08:49:37Z');
  assert.equal(formatDate(sample, 'imf'), 'Sun, 06 Nov 1994 08:49:37 GMT');
  assert.equal(formatDate(sample, 'rfc850'), 'Sunday, 06-Nov-94 08:49:37 GMT');
  assert.equal(formatDate(sample, 'asctime'), 'Sun Nov  6 08:49:37 1994');
  for (const format of ['imf', 'rfc850', 'asctime'] as const) assert.equal(readHttpDate(formatDate(LAST_MODIFIED_MS, format)), LAST_MODIFIED_MS);
  for (const bad of ['1', '2099', '', 'Sun, 06 Nov 1994 08:49:37 gmt', 'Sun, 31 Feb 1994 08:49:37 GMT', new Date(sample).toISOString()]) assert.equal(readHttpDate(bad), undefined, bad);
});

/** Strings that are not HTTP-dates (some of which Date.parse reads), made from Last-Modified. */
const NOT_DATES: ReadonlyArray<(lm: number) => string> = [
  () => '', () => 'not a date', () => '0', () => '1', () => '2099', () => '2000-01-01', (lm) => String(lm),
  (lm) => new Date(lm).toISOString(), (lm) => new Date(lm).toString(), (lm) => new Date(lm).toUTCString().toLowerCase(),
  (lm) => new Date(lm).toUTCString().replace('GMT', '+0000'), (lm) => `${new Date(lm).toUTCString()}, ${new Date(lm).toUTCString()}`,
  () => 'Sun, 31 Feb 2024 00:00:00 GMT',
];

/** A date near Last-Modified in one of the three formats, or a string that is not a date. */
type DateChoice = { readonly seconds: number; readonly format: DateFormat } | { readonly notDate: number };
const dateChoice: fc.Arbitrary<DateChoice> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      seconds: fc.oneof(fc.integer({ min: -3, max: 3 }), fc.integer({ min: -400 * 86400, max: 400 * 86400 })),
      format: fc.constantFrom<DateFormat>('imf', 'imf', 'rfc850', 'asctime'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ notDate: fc.integer({ min: 0, max: NOT_DATES.length - 1 }) }) },
);

function renderDate(choice: DateChoice, lastModifiedMs: number): string {
  return 'notDate' in choice ? NOT_DATES[choice.notDate]!(lastModifiedMs) : formatDate(lastModifiedMs + choice.seconds * 1000, choice.format);
}

// ---------------------------------------------------------------------------------------------
// Response checks shared by the Range and conditional properties
// ---------------------------------------------------------------------------------------------

function decoded(res: TestResponse): Buffer {
  const encoding = res.headers['content-encoding'];
  if (encoding === undefined) return res.body;
  if (encoding === 'br') return brotliDecompressSync(res.body);
  if (encoding === 'gzip') return gunzipSync(res.body);
  assert.fail(`unexpected Content-Encoding ${encoding}`);
}

/** A 200 with the whole asset (any content coding the edge chose; none for HEAD's body). */
function assertWhole(res: TestResponse, bytes: Buffer, isHead: boolean, label: string): void {
  assert.equal(res.status, 200, label);
  assert.equal(res.headers['content-range'], undefined, label);
  if (isHead) {
    assert.equal(res.body.length, 0, label);
    return;
  }
  assert.equal(res.headers['content-length'], String(res.body.length), label);
  assert.ok(decoded(res).equals(bytes), `${label}: not the whole asset`);
}


type Interval = readonly [number, number];

/** Sorted, with overlapping and adjacent intervals merged. */
function merge(intervals: readonly Interval[]): Interval[] {
  const out: Array<[number, number]> = [];
  for (const [s, e] of [...intervals].sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last !== undefined && s <= last[1] + 1) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** A 206: every part's Content-Range and bytes agree with the asset. Returns the intervals sent. */
function checkPartial(res: TestResponse, bytes: Buffer, label: string): { intervals: Interval[]; multipart: boolean } {
  assert.equal(res.status, 206, label);
  assert.equal(res.headers['content-encoding'], undefined, `${label}: a 206 is a slice of the identity bytes`);
  assert.equal(res.headers['content-length'], String(res.body.length), label);
  const slice = (contentRange: string | undefined, body: Buffer): Interval => {
    const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(contentRange ?? '');
    assert.ok(m, `${label}: Content-Range ${contentRange}`);
    const [start, end, size] = [Number(m[1]), Number(m[2]), Number(m[3])];
    assert.equal(size, bytes.length, `${label}: Content-Range size`);
    assert.ok(start <= end && end < size, `${label}: Content-Range ${contentRange}`);
    assert.ok(body.equals(bytes.subarray(start, end + 1)), `${label}: bytes ${start}-${end} are not that slice of the 200 body`);
    return [start, end];
  };
  const type = /^multipart\/byteranges;\s*boundary=("?)([^";]+)\1$/.exec(res.headers['content-type'] ?? '');
  if (type === null) return { intervals: [slice(res.headers['content-range'], res.body)], multipart: false };
  assert.equal(res.headers['content-range'], undefined, `${label}: a multipart 206 has no top-level Content-Range`);
  const parts = parseMultipart(res.body, type[2]!);
  assert.ok(parts.length >= 1, label);
  const intervals = parts.map((part) => slice(part.headers['content-range'], part.body));
  assert.equal(merge(intervals).reduce((n, [s, e]) => n + e - s + 1, 0), intervals.reduce((n, [s, e]) => n + e - s + 1, 0), `${label}: parts overlap`);
  return { intervals, multipart: true };
}

/** The representations and validators the edge announces for an asset, by Accept-Encoding. */
interface Validators {
  /** Strong ETag of the identity bytes (undefined when the edge announces none: streamed). */
  readonly etag: string | undefined;
  /** ETag per Accept-Encoding sent (the selected representation's). */
  readonly etagFor: ReadonlyMap<string | undefined, string | undefined>;
  readonly lastModifiedMs: number;
}

const ACCEPT_ENCODINGS = [undefined, 'br', 'gzip', 'br, gzip', 'gzip;q=0.5, br;q=0.2', 'identity', '*', 'br;q=0'] as const;

async function validators(edge: Edge, key: string): Promise<Validators> {
  const etagFor = new Map<string | undefined, string | undefined>();
  let lastModified: string | undefined;
  for (const ae of ACCEPT_ENCODINGS) {
    const res = await get(edge, key, ae === undefined ? {} : { 'accept-encoding': ae });
    assert.equal(res.status, 200);
    etagFor.set(ae, res.headers.etag);
    lastModified = res.headers['last-modified'];
  }
  return { etag: etagFor.get(undefined), etagFor, lastModifiedMs: Date.parse(lastModified!) };
}

const EDGES = ['cached', 'streamed'] as const;
type EdgeName = (typeof EDGES)[number];
const edgeOf = (name: EdgeName): Edge => (name === 'cached' ? cached : streamed);

// ---------------------------------------------------------------------------------------------
// 3. Ranges and If-Range
// ---------------------------------------------------------------------------------------------

/** A Range header the model can judge exactly: `bytes=` and well-formed specs. */
type RangeModel =
  /** Must be ignored: a unit other than bytes (RFC 9110 §14.2), or more than 16 specs (documented cap). */
  | { readonly kind: 'ignore' }
  /** Not a valid ranges-specifier: ignoring (200), refusing (416) or a correct 206 are all fine. */
  | { readonly kind: 'invalid' }
  | { readonly kind: 'bytes'; readonly satisfiable: readonly Interval[]; readonly specs: number; readonly mayIgnore: boolean };

const MAX_RANGES = 16;

function modelRange(header: string, size: number): RangeModel {
  const eq = header.indexOf('=');
  const unit = eq === -1 ? '' : header.slice(0, eq);
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(unit)) return { kind: 'invalid' };
  if (unit.toLowerCase() !== 'bytes') return { kind: 'ignore' };
  const specs = header.slice(eq + 1).split(/[ \t]*,[ \t]*/);
  const satisfiable: Interval[] = [];
  const big = BigInt(size);
  for (const spec of specs) {
    const int = /^(\d+)-(\d*)$/.exec(spec);
    const suffix = /^-(\d+)$/.exec(spec);
    if (int) {
      const first = BigInt(int[1]!);
      const last = int[2] === '' ? undefined : BigInt(int[2]!);
      if (last !== undefined && last < first) return { kind: 'invalid' };
      if (first < big) satisfiable.push([Number(first), Number(last === undefined || last >= big ? big - 1n : last)]);
    } else if (suffix) {
      const n = BigInt(suffix[1]!);
      if (n > 0n && size > 0) satisfiable.push([Number(n >= big ? 0n : big - n), size - 1]);
    } else {
      return { kind: 'invalid' };
    }
  }
  if (specs.length > MAX_RANGES) return { kind: 'ignore' };
  // Range unit names are case-insensitive (§14.1); an edge may still ignore what it does not parse.
  return { kind: 'bytes', satisfiable, specs: specs.length, mayIgnore: unit !== 'bytes' };
}

/** Positions in and around an asset of `size` bytes, and far past it (leading zeros sometimes). */
function position(size: number): fc.Arbitrary<string> {
  return fc
    .oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0, max: size + 1 }) },
      { weight: 2, arbitrary: fc.constantFrom(0, 1, Math.max(0, size - 1), size, size + 1) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 100_000 }) },
      { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: 10n ** 22n }) },
    )
    .chain((n) => fc.oneof({ weight: 5, arbitrary: fc.constant(String(n)) }, { weight: 1, arbitrary: fc.constant(`00${n}`) }));
}

function rangeHeader(size: number): fc.Arbitrary<string> {
  const at = position(size);
  const spec = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(at, at).map(([a, b]) => (BigInt(a) <= BigInt(b) ? `${a}-${b}` : `${b}-${a}`)) },
    { weight: 1, arbitrary: fc.tuple(at, at).map(([a, b]) => `${a}-${b}`) }, // last < first is invalid
    { weight: 2, arbitrary: at.map((a) => `${a}-`) },
    { weight: 2, arbitrary: at.map((n) => `-${n}`) },
  );
  const wellFormed = fc
    .tuple(
      fc.oneof({ weight: 12, arbitrary: fc.constant('bytes') }, { weight: 1, arbitrary: fc.constantFrom('Bytes', 'BYTES', 'items', 'none', 'byte') }),
      // up to and past the cap of 16 ranges
      fc.oneof({ weight: 5, arbitrary: fc.array(spec, { minLength: 1, maxLength: 4 }) }, { weight: 1, arbitrary: fc.array(spec, { minLength: 14, maxLength: 20 }) }),
      fc.constantFrom(',', ', ', ' , ', ',\t', ' ,'),
    )
    .map(([unit, specs, sep]) => `${unit}=${specs.join(sep)}`);
  const malformed = fc.oneof(
    fc.constantFrom(
      'bytes=abc', 'bytes=', 'bytes', '=0-1', 'bytes=0-1,', 'bytes=,0-1', 'bytes=0-1,,2-3', 'bytes=1-2-3', 'bytes= 0-1', 'bytes =0-1',
      'bytes=0x10-20', 'bytes=-', 'bytes=--1', 'bytes=1e3-', 'bytes=+1-2', 'bytes=5-2', 'bytes=0-1;q=1', 'bytes=-0', 'bytes=0-0,-0',
      'items=0-1', 'items=99999-', 'x=-1', 'bytes=0--1',
    ),
    fc.string({ unit: fc.constantFrom(...'bytes=0123456789-, \t;x+'), maxLength: 16 }),
  );
  return fc.oneof({ weight: 8, arbitrary: wellFormed }, { weight: 2, arbitrary: malformed });
}

/** If-Range values, rendered against the asset's validators. */
type IfRange = { readonly kind: 'etag' | 'br-etag' | 'weak-etag' | 'stale-etag' } | { readonly kind: 'date'; readonly date: DateChoice };
const ifRangeArbitrary: fc.Arbitrary<IfRange> = fc.oneof(
  { weight: 3, arbitrary: fc.constant<IfRange>({ kind: 'etag' }) },
  { weight: 2, arbitrary: fc.constantFrom<IfRange>({ kind: 'br-etag' }, { kind: 'weak-etag' }, { kind: 'stale-etag' }) },
  { weight: 2, arbitrary: fc.constantFrom<DateFormat>('imf', 'rfc850', 'asctime').map((format): IfRange => ({ kind: 'date', date: { seconds: 0, format } })) },
  { weight: 2, arbitrary: dateChoice.map((date): IfRange => ({ kind: 'date', date })) },
);

function renderIfRange(ifRange: IfRange, v: Validators, identityEtag: string): string {
  switch (ifRange.kind) {
    case 'etag':
      return identityEtag;
    case 'br-etag':
      return identityEtag.replace(/"$/, '-br"');
    case 'weak-etag':
      return `W/${identityEtag}`;
    case 'stale-etag':
      return '"AAAAAAAAAAAAAAAAAAAAAA"';
    case 'date':
      return renderDate(ifRange.date, v.lastModifiedMs);
  }
}

/** RFC 9110 §13.1.5: the strong ETag of the selected (identity) representation, or the exact date. */
function ifRangeMatches(value: string, v: Validators): boolean {
  if (value.startsWith('"')) return v.etag !== undefined && value === v.etag;
  if (value.startsWith('W/')) return false;
  return readHttpDate(value) === v.lastModifiedMs;
}

const rangeCase = fc
  .oneof({ weight: 1, arbitrary: fc.constantFrom(0, 1) }, { weight: 3, arbitrary: fc.constantFrom(2, 3) })
  .chain((asset) =>
    fc.record({
      asset: fc.constant(asset),
      edge: fc.constantFrom(...EDGES),
      range: sometimes(rangeHeader(RANGE_ASSETS[asset]!.bytes.length), 92),
      ifRange: sometimes(ifRangeArbitrary, 30),
      acceptEncoding: fc.constantFrom(...ACCEPT_ENCODINGS),
      head: fc.oneof({ weight: 12, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
    }),
  );

test('property: every 206 agrees with the 200 body, 416 only when nothing is satisfiable, 200 is the whole body', async () => {
  const known = new Map<string, Validators>();
  for (const name of EDGES) for (const { key } of RANGE_ASSETS) known.set(`${name} ${key}`, await validators(edgeOf(name), key));
  const identityEtag = new Map(RANGE_ASSETS.map(({ key }) => [key, known.get(`cached ${key}`)!.etag!]));

  await fc.assert(
    fc.asyncProperty(rangeCase, async (c) => {
      const { key, bytes } = RANGE_ASSETS[c.asset]!;
      const v = known.get(`${c.edge} ${key}`)!;
      const headers: Record<string, string> = {};
      if (c.range !== undefined) headers['range'] = c.range;
      const ifRange = c.ifRange === undefined ? undefined : renderIfRange(c.ifRange, v, identityEtag.get(key)!);
      if (ifRange !== undefined) headers['if-range'] = ifRange;
      if (c.acceptEncoding !== undefined) headers['accept-encoding'] = c.acceptEncoding;
      const res = await get(edgeOf(c.edge), key, headers, c.head ? 'HEAD' : 'GET');
      const label = `${c.head ? 'HEAD' : 'GET'} ${c.edge} ${key} (${bytes.length} bytes) ${JSON.stringify(headers)} -> ${res.status} ${JSON.stringify(res.headers['content-range'] ?? '')}`;
      assertNot5xx(res, label);

      // Range is ignored for HEAD, without Range, and when If-Range does not match (§13.1.5).
      if (c.head || c.range === undefined || (ifRange !== undefined && !ifRangeMatches(ifRange.trim(), v))) {
        assertWhole(res, bytes, c.head, label);
        return;
      }
      const model = modelRange(c.range, bytes.length);
      const unsatisfiable = () => {
        assert.equal(res.headers['content-range'], `bytes */${bytes.length}`, label);
        assert.equal(errorCode(res), 'E_RANGE_NOT_SATISFIABLE', label);
      };
      switch (model.kind) {
        case 'ignore':
          assertWhole(res, bytes, false, label);
          return;
        case 'invalid':
          // §14.2: a server MAY ignore or reject an invalid ranges-specifier; whatever it sends agrees with the bytes.
          if (res.status === 200) assertWhole(res, bytes, false, label);
          else if (res.status === 416) unsatisfiable();
          else checkPartial(res, bytes, label);
          return;
        case 'bytes': {
          const wanted = merge(model.satisfiable);
          // streamed objects answer one contiguous range only (several: the whole body, allowed by §14.2)
          const mayIgnore = model.mayIgnore || (c.edge === 'streamed' && wanted.length > 1);
          if (res.status === 200 && mayIgnore) {
            assertWhole(res, bytes, false, label);
            return;
          }
          if (wanted.length === 0) {
            assert.equal(res.status, 416, `${label}: no range is satisfiable`);
            unsatisfiable();
            return;
          }
          const sent = checkPartial(res, bytes, label);
          assert.deepEqual(merge(sent.intervals), wanted, `${label}: not the bytes asked for`);
          if (model.specs === 1) assert.equal(sent.multipart, false, `${label}: a single range must not get a multipart answer (§14.6)`);
          if (c.edge === 'cached') assert.equal(res.headers.etag, v.etag, label);
          return;
        }
      }
    }),
    params(RUNS.range),
  );
});

// ---------------------------------------------------------------------------------------------
// 4. Conditional requests
// ---------------------------------------------------------------------------------------------

/** An entity-tag list element: one of the asset's tags (any variant, strong or weak), another, or junk. */
type TagChoice =
  | { readonly kind: 'ours'; readonly variant: '' | '-br' | '-gz'; readonly weak: boolean }
  | { readonly kind: 'other'; readonly opaque: string; readonly weak: boolean };
const tagChoice = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ours' as const), variant: fc.constantFrom('' as const, '-br' as const, '-gz' as const), weak: fc.boolean() }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('other' as const),
      opaque: fc.oneof(fc.constantFrom('stale', '', 'a,b', 'W/', '*'), fc.string({ unit: fc.constantFrom(...'AZaz09-_,/W* '), maxLength: 8 })),
      weak: fc.boolean(),
    }),
  },
);
type ListChoice = { readonly kind: 'star' } | { readonly kind: 'list'; readonly tags: readonly TagChoice[]; readonly sep: string } | { readonly kind: 'junk'; readonly value: string };
const listChoice = fc.oneof(
  { weight: 1, arbitrary: fc.constant<ListChoice>({ kind: 'star' }) },
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('list' as const), tags: fc.array(tagChoice, { minLength: 1, maxLength: 4 }), sep: fc.constantFrom(',', ', ', ' , ', ',\t') }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('junk' as const),
      value: fc.constantFrom('OURS', '"OURS', 'OURS"', 'W/OURS', '*, OURS', 'x OURS', 'OURS junk', 'W/ OURS', 'w/OURS', '"unterminated', 'garbage', '"a" "b"'),
    }),
  },
);

function renderTag(tag: TagChoice, identityEtag: string): string {
  const opaque = tag.kind === 'ours' ? identityEtag.slice(1, -1) + tag.variant : tag.opaque;
  return `${tag.weak ? 'W/' : ''}"${opaque}"`;
}

function renderList(list: ListChoice, identityEtag: string): string {
  if (list.kind === 'star') return '*';
  if (list.kind === 'junk') return list.value.replace('OURS', identityEtag);
  return list.tags.map((t) => renderTag(t, identityEtag)).join(list.sep);
}

/**
 * Whether an If-Match / If-None-Match value matches the selected representation's ETag
 * (RFC 9110 §8.8.3.2): undefined when the value is not `*` or a list of entity-tags, whose
 * meaning the RFC leaves open.
 */
function listMatches(value: string, etag: string, weakComparison: boolean): boolean | undefined {
  if (value === '*') return true;
  const tags: Array<{ weak: boolean; opaque: string }> = [];
  let i = 0;
  const ows = () => {
    while (value[i] === ' ' || value[i] === '\t') i++;
  };
  for (;;) {
    ows();
    if (i >= value.length) break;
    if (value[i] === ',') {
      i++; // empty list elements are allowed (§5.6.1)
      continue;
    }
    const m = /^(W\/)?"([\x21\x23-\x7e\x80-\xff]*)"/.exec(value.slice(i));
    if (m === null) return undefined;
    tags.push({ weak: m[1] !== undefined, opaque: m[2]! });
    i += m[0].length;
    ows();
    if (i < value.length && value[i] !== ',') return undefined;
  }
  const ours = etag.slice(1, -1);
  return tags.some((t) => t.opaque === ours && (weakComparison || !t.weak));
}

type Outcome = 'proceed' | 'not-modified' | 'failed';

/** RFC 9110 §13.2.2, steps 1-4 for GET/HEAD; every outcome an open (undefined) match allows. */
function preconditionOutcomes(h: Record<string, string>, etag: string, lastModifiedMs: number): Set<Outcome> {
  const outcomes = new Set<Outcome>();
  const imMatch = h['if-match'] === undefined ? undefined : listMatches(h['if-match'], etag, false);
  const inmMatch = h['if-none-match'] === undefined ? undefined : listMatches(h['if-none-match'], etag, true);
  for (const im of imMatch === undefined ? [true, false] : [imMatch]) {
    for (const inm of inmMatch === undefined ? [true, false] : [inmMatch]) {
      outcomes.add(evaluate(im, inm));
    }
  }
  return outcomes;

  function evaluate(im: boolean, inm: boolean): Outcome {
    if (h['if-match'] !== undefined) {
      if (!im) return 'failed';
    } else if (h['if-unmodified-since'] !== undefined) {
      const since = readHttpDate(h['if-unmodified-since']);
      if (since !== undefined && lastModifiedMs > since) return 'failed';
    }
    if (h['if-none-match'] !== undefined) return inm ? 'not-modified' : 'proceed';
    if (h['if-modified-since'] !== undefined) {
      const since = readHttpDate(h['if-modified-since']);
      if (since !== undefined && lastModifiedMs <= since) return 'not-modified';
    }
    return 'proceed';
  }
}

const CONDITIONAL_ASSETS = RANGE_ASSETS.filter((a) => a.bytes.length > 1000); // the 1 KB binary and the 70 KB text

test('property: 304 and 412 exactly when RFC 9110 §13.2.2 says so, otherwise 200 with the right body', async () => {
  const known = new Map<string, Validators>();
  for (const name of EDGES) for (const { key } of CONDITIONAL_ASSETS) known.set(`${name} ${key}`, await validators(edgeOf(name), key));
  const cases = fc.record({
    edge: fc.constantFrom(...EDGES),
    asset: fc.integer({ min: 0, max: CONDITIONAL_ASSETS.length - 1 }),
    ifMatch: sometimes(listChoice, 30),
    ifNoneMatch: sometimes(listChoice, 50),
    ifModifiedSince: sometimes(dateChoice, 50),
    ifUnmodifiedSince: sometimes(dateChoice, 30),
    acceptEncoding: fc.constantFrom(...ACCEPT_ENCODINGS),
    head: fc.oneof({ weight: 8, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  });
  await fc.assert(
    fc.asyncProperty(cases, async (c) => {
      const { key, bytes } = CONDITIONAL_ASSETS[c.asset]!;
      const v = known.get(`${c.edge} ${key}`)!;
      const identityEtag = known.get(`cached ${key}`)!.etag!;
      const headers: Record<string, string> = {};
      if (c.ifMatch !== undefined) headers['if-match'] = renderList(c.ifMatch, identityEtag);
      if (c.ifNoneMatch !== undefined) headers['if-none-match'] = renderList(c.ifNoneMatch, identityEtag);
      if (c.ifModifiedSince !== undefined) headers['if-modified-since'] = renderDate(c.ifModifiedSince, v.lastModifiedMs);
      if (c.ifUnmodifiedSince !== undefined) headers['if-unmodified-since'] = renderDate(c.ifUnmodifiedSince, v.lastModifiedMs);
      // Node trims field values: the model sees what the edge sees.
      for (const name of Object.keys(headers)) headers[name] = headers[name]!.trim();
      if (c.acceptEncoding !== undefined) headers['accept-encoding'] = c.acceptEncoding;
      const res = await get(edgeOf(c.edge), key, headers, c.head ? 'HEAD' : 'GET');
      const label = `${c.head ? 'HEAD' : 'GET'} ${c.edge} ${key} ${JSON.stringify(headers)} -> ${res.status} ${res.headers['x-hashedge-error'] ?? ''}`;
      assertNot5xx(res, label);

      const etag = v.etagFor.get(c.acceptEncoding);
      const allowed = new Set<Outcome>();
      if (etag === undefined) {
        // Streamed (uncached) objects carry no ETag and are answered without evaluating
        // preconditions (RFC 9110 §13.2.1: a server that cannot act as a cache for the
        // resource does not evaluate them); evaluating them would be right too.
        allowed.add('proceed');
        for (const o of preconditionOutcomes(headers, '"no-etag-known"', v.lastModifiedMs)) allowed.add(o);
      } else {
        for (const o of preconditionOutcomes(headers, etag, v.lastModifiedMs)) allowed.add(o);
      }
      const outcome: Outcome = res.status === 412 ? 'failed' : res.status === 304 ? 'not-modified' : 'proceed';
      assert.ok(allowed.has(outcome), `${label}: RFC 9110 allows ${[...allowed].join(' or ')}`);
      if (outcome === 'failed') {
        assert.equal(res.headers['x-hashedge-error'], 'E_PRECONDITION_FAILED', label);
      } else if (outcome === 'not-modified') {
        assert.equal(res.body.length, 0, label);
        assert.equal(res.headers.etag, etag, label);
        assert.equal(res.headers['last-modified'], new Date(v.lastModifiedMs).toUTCString(), label);
      } else {
        assertWhole(res, bytes, c.head, label);
        assert.equal(res.headers.etag, etag, label);
      }
    }),
    params(RUNS.conditional),
  );
});
