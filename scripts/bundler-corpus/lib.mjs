// Shared helpers for the bundler corpus: app sources, npm installs, output walking,
// the cross-check between two builds, and writing fixtures.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';

export function sh(cmd, args, opts = {}) {
  const { cwd, env } = opts;
  process.stdout.write(`  $ (${path.basename(cwd ?? '.')}) ${cmd} ${args.join(' ')}\n`);
  return execFileSync(cmd, args, {
    cwd,
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', ASTRO_TELEMETRY_DISABLED: '1', CI: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 1024 * 1024,
    encoding: 'utf8',
  });
}

export function write(file, content) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
}

export function rm(p) {
  fs.rmSync(p, { recursive: true, force: true });
}

/** npm install the given dependencies into dir (a fresh project under /tmp). */
export function npmInstall(dir, deps, extra = {}) {
  fs.mkdirSync(dir, { recursive: true });
  write(path.join(dir, 'package.json'), JSON.stringify({ name: path.basename(dir), private: true, type: 'module', dependencies: deps, ...extra }, null, 2) + '\n');
  sh('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: dir });
}

/** Installed version of a package, read from its own package.json. */
export function installedVersion(dir, pkg) {
  return JSON.parse(fs.readFileSync(path.join(dir, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}

/** Every regular file under root, as sorted '/'-separated relative paths (dotfolders included). */
export function walk(root) {
  const out = [];
  const rec = (dir) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) rec(p);
      else if (e.isFile()) out.push(path.relative(root, p).split(path.sep).join('/'));
      else throw new Error(`unexpected non-file in output: ${p}`);
    }
  };
  rec(root);
  return out.sort();
}

export function sha256(file) {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

// --- deterministic binary sources -------------------------------------------------------

function prng(seed) {
  let s = 0;
  for (const c of seed) s = (s * 31 + c.charCodeAt(0)) >>> 0;
  return () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return s & 0xff;
  };
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function pngChunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A valid noisy RGB PNG (well above Vite's 4 KiB inline limit), different per seed. */
export function png(seed, w = 48, h = 48) {
  const rnd = prng(seed);
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    raw[y * (w * 3 + 1)] = 0;
    for (let x = 0; x < w * 3; x++) raw[y * (w * 3 + 1) + 1 + x] = rnd();
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Opaque bytes standing in for a font / icon file (bundlers copy these as-is). */
export function blob(seed, n = 6000) {
  const rnd = prng(seed);
  const b = Buffer.alloc(n);
  b.write('wOF2', 0, 'latin1');
  for (let i = 4; i < n; i++) b[i] = rnd();
  return b;
}

// --- the small SPA shared by vite / rollup / webpack / esbuild / parcel ------------------

/**
 * Writes the shared app into dir. `v` is the build variant ('a' or 'b'): every source file
 * differs between variants (a string in JS/CSS/HTML/txt, the bytes of binaries).
 * opts.image: how main.js imports the image ('import' | 'parcel' | false);
 * opts.css: whether main.js imports the CSS; opts.html: 'vite' | 'parcel' | false;
 * opts.publicDir: write public/robots.txt + public/favicon.ico.
 */
export function writeSpa(dir, v, opts) {
  const { image = 'import', css = true, html = false, publicDir = false } = opts;
  const src = path.join(dir, 'src');
  const imgLine = image === 'import' ? `import logo from './logo.png';\n`
    : image === 'parcel' ? `import logo from 'url:./logo.png';\n` : `const logo = '';\n`;
  write(path.join(src, 'main.js'), `// entry module (variant ${v})
${css ? `import './style.css';\n` : ''}${imgLine}import { h } from './util.js';

const root = document.getElementById('app') ?? document.body;
root.innerHTML = h('h1', 'corpus (${v})') + (logo ? '<img alt="logo" src="' + logo + '">' : '');
// FAQ and Tabs load lazily after first paint; GanttChart on click: three dynamic chunks.
import('./FAQ.js').then(({ renderFAQ }) => root.insertAdjacentHTML('beforeend', renderFAQ()));
import('./Tabs.js').then(({ renderTabs }) => root.insertAdjacentHTML('beforeend', renderTabs(['One', 'Two'])));
const btn = document.createElement('button');
btn.textContent = 'Show Gantt chart (${v})';
btn.addEventListener('click', async () => {
  const { GanttChart } = await import('./GanttChart.js');
  root.append(GanttChart(['design', 'build', 'ship']));
});
root.append(btn);
`);
  write(path.join(src, 'FAQ.js'), `import { h } from './util.js';
export function renderFAQ() {
  return h('section', 'FAQ: how are hashed assets cached? (${v})');
}
`);
  write(path.join(src, 'Tabs.js'), `import { h } from './util.js';
export function renderTabs(names) {
  return names.map((n) => h('button', 'Tab ' + n + ' (${v})')).join('');
}
`);
  write(path.join(src, 'GanttChart.js'), `import { h } from './util.js';
export function GanttChart(tasks) {
  const el = document.createElement('div');
  el.innerHTML = tasks.map((t, i) => h('div', t + ' '.repeat(i) + '#'.repeat(i + 1))).join('') + h('p', 'GanttChart ${v}');
  return el;
}
`);
  write(path.join(src, 'util.js'), `export const h = (tag, text) => '<' + tag + '>' + text + '</' + tag + '>'; // util ${v}\n`);
  if (css) {
    write(path.join(src, 'style.css'), `/* styles (variant ${v}) */
@font-face { font-family: Corpus; src: url('./fonts/Corpus.woff2') format('woff2'); }
body { font-family: Corpus, sans-serif; }
body::after { content: "variant ${v}"; }
`);
    write(path.join(src, 'fonts', 'Corpus.woff2'), blob(`font-${v}`));
  }
  if (image) write(path.join(src, 'logo.png'), png(`logo-${v}`));
  if (html === 'vite') {
    write(path.join(dir, 'index.html'), `<!doctype html>
<html><head><meta charset="utf-8"><title>corpus ${v}</title><link rel="icon" href="/favicon.ico"></head>
<body><div id="app"></div><script type="module" src="/src/main.js"></script></body></html>
`);
  } else if (html === 'parcel') {
    write(path.join(dir, 'index.html'), `<!doctype html>
<html><head><meta charset="utf-8"><title>corpus ${v}</title></head>
<body><div id="app"></div><script type="module" src="./src/main.js"></script></body></html>
`);
  }
  if (publicDir) {
    write(path.join(dir, 'public', 'robots.txt'), `# robots (variant ${v})\nUser-agent: *\nAllow: /\n`);
    write(path.join(dir, 'public', 'favicon.ico'), blob(`ico-${v}`, 1500));
  }
}

// --- labels, cross-check, fixtures ------------------------------------------------------

/**
 * Checks the labels of build A against build B and returns a summary. Throws when a file is
 * unlabelled, or when a path present in both builds with different bytes is labelled hashed.
 */
export function crossCheck(name, outA, outB, labels) {
  const filesA = walk(outA);
  const filesB = new Set(walk(outB));
  const missing = filesA.filter((f) => !labels.has(f));
  if (missing.length) throw new Error(`[${name}] files without a label: ${missing.join(', ')}`);
  const extra = [...labels.keys()].filter((f) => !filesA.includes(f));
  if (extra.length) throw new Error(`[${name}] labels for files not on disk: ${extra.join(', ')}`);
  const s = { files: filesA.length, hashed: 0, unhashed: 0, samePathSameBytes: [], samePathChanged: [], onlyInA: 0, hashedKept: 0 };
  const bad = [];
  for (const f of filesA) {
    const l = labels.get(f);
    l.hashed ? s.hashed++ : s.unhashed++;
    if (!filesB.has(f)) { s.onlyInA++; continue; }
    if (sha256(path.join(outA, f)) === sha256(path.join(outB, f))) {
      s.samePathSameBytes.push(f);
      if (l.hashed) s.hashedKept++;
    } else {
      s.samePathChanged.push(f);
      if (l.hashed) bad.push(f);
    }
  }
  if (bad.length) throw new Error(`[${name}] CROSS-CHECK FAILED: labelled hashed but same path has different bytes in build B: ${bad.join(', ')}`);
  // The other direction: a name the bundler does not derive from content must not vary with it.
  const gone = filesA.filter((f) => !labels.get(f).hashed && !filesB.has(f));
  if (gone.length) throw new Error(`[${name}] CROSS-CHECK FAILED: labelled unhashed but the path is gone in build B (its name depends on the build): ${gone.join(', ')}`);
  return s;
}

export function writeFixture(file, { setup, tools, labels, evidence }) {
  const files = [...labels.keys()].sort().map((p) => ({ path: p, hashed: labels.get(p).hashed, why: labels.get(p).why }));
  const json = JSON.stringify({ setup, tools, files, evidence }, null, 2) + '\n';
  if (json.length > 200_000) throw new Error(`[${setup}] fixture too large: ${json.length} bytes`);
  write(file, json);
  return json.length;
}
