import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAssetPath, MAX_PATH_BYTES } from '../src/asset/key.js';
import { isContentHashedName } from '../src/asset/hashed-name.js';
import { EdgeError } from '../src/errors.js';

function codeOf(path: string): string {
  try {
    parseAssetPath(path);
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof EdgeError);
    return `${err.status} ${err.code}`;
  }
}

test('names in the forms bundlers emit are recognised as content-hashed', () => {
  for (const name of [
    'logo-0492830483.png', // the example (hex digits)
    'index-BwT4yKxK.js', // Vite / Rollup base64url
    'vendor-B-x_3kQ2.js', // base64url containing - and _
    'main.3f2a9b1c.js', // webpack [contenthash]
    'main.3f2a9b1c.chunk.js', // create-react-app
    'application-4d8e0c1f0a3b2c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5.css', // Rails 64 hex
    'index-5XHQKZ2N.js', // esbuild base32
    'index.2d3f4a5b.css', // Parcel
    'asset00140-68ac0ac684.css', // the benchmark corpus
    'app-1d18a1d220.js.map',
  ]) {
    assert.equal(isContentHashedName(name), true, name);
  }
});

test('ordinary names are not mistaken for content-hashed ones', () => {
  for (const name of [
    'logo.png', 'index.js', 'jquery-3.7.1.min.js', 'bootstrap-5.3.0.css', 'roboto-v30-latin-regular.woff2',
    'Header-MyWidget.js', 'settings-Settings.js', 'font-awesome-webfont.woff2', 'deadbeef.js', 'README', 'app-deadbeefcafe.js',
  ]) {
    assert.equal(isContentHashedName(name), false, name);
  }
});

test('a path becomes the key without its leading slash, query or fragment', () => {
  assert.deepEqual(parseAssetPath('/static/logo-0492830483.png?v=2#x'), { key: 'static/logo-0492830483.png' });
  assert.deepEqual(parseAssetPath('/a%20b/logo-0492830483.png'), { key: 'a b/logo-0492830483.png' });
  assert.deepEqual(parseAssetPath('/caf%C3%A9/x-0492830483.css'), { key: 'café/x-0492830483.css' });
  assert.deepEqual(parseAssetPath('/logo.png'), { key: 'logo.png' });
});

test('traversal, encoded separators, control bytes and bad encodings are refused with their codes', () => {
  const cases: Record<string, string> = {
    '/../etc/passwd': '400 E_TRAVERSAL',
    '/a/../../etc/passwd': '400 E_TRAVERSAL',
    '/a/./b-0492830483.js': '400 E_TRAVERSAL',
    '/%2e%2e/etc/passwd': '400 E_TRAVERSAL',
    '/%2E%2E/%2E%2E/etc/passwd': '400 E_TRAVERSAL',
    '/..%2fetc%2fpasswd': '400 E_BAD_PATH',
    '/a%2Fb-0492830483.js': '400 E_BAD_PATH',
    '/..%5c..%5cwindows': '400 E_BAD_PATH',
    '/a\\b-0492830483.js': '400 E_BAD_PATH',
    '/%252e%252e/etc/passwd': '400 E_BAD_PATH', // double encoding
    '/%c0%ae%c0%ae/etc/passwd': '400 E_BAD_PATH', // overlong UTF-8 for '.'
    '/x-0492830483.js%00.png': '400 E_BAD_PATH', // NUL
    '/x-0492830483.js%0d%0aSet-Cookie:x': '400 E_BAD_PATH', // CR LF
    '/%zz': '400 E_BAD_PATH',
    '//etc/passwd': '400 E_BAD_PATH',
    '/a//b-0492830483.js': '400 E_BAD_PATH',
    '/.env': '404 E_DOTFILE',
    '/.git/config': '404 E_DOTFILE',
    '/assets/.hidden-0492830483.js': '404 E_DOTFILE',
    '/': '404 E_NOT_FOUND',
    '/assets/': '404 E_NOT_FOUND',
    'http://evil.example/x-0492830483.js': '400 E_BAD_PATH',
    '*': '400 E_BAD_PATH',
  };
  for (const [path, expected] of Object.entries(cases)) assert.equal(codeOf(path), expected, path);
});

test('paths over the limit get 414', () => {
  assert.equal(codeOf('/' + 'a'.repeat(MAX_PATH_BYTES) + '-0492830483.js'), '414 E_URI_TOO_LONG');
  assert.equal(codeOf('/' + 'a'.repeat(MAX_PATH_BYTES - 20) + '-0492830483.js'), 'ok');
});
