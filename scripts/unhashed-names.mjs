#!/usr/bin/env node
/**
 * Builds test/fixtures/unhashed-names.txt: real file names of web assets that popular npm
 * packages publish in their dist-like folders and that do NOT carry a content hash (names fixed
 * by hand or by a non-hashing build: `jquery.min.js`, `KaTeX_Main-Regular.woff2`,
 * `inter-latin-ext-400-normal.woff2`, `pdf.worker.min.mjs`, `1f468-200d-1f469.svg`). hashedge
 * must never take one of them for a content-hashed name: it would pin a mutable file in
 * browsers for a year.
 *
 * Run by hand (not by `npm test`); needs only node, npm (registry access) and tar:
 *
 *   node scripts/unhashed-names.mjs                  # the PACKAGES below -> the fixture
 *   node scripts/unhashed-names.mjs --out x.txt --dump all.txt jquery@3.7.1 'swagger-ui-dist@5=all'
 *
 * A spec is `name[@version]`, optionally suffixed `=all` to take web assets from every folder
 * of the package (for packages that are all dist, like swagger-ui-dist), not only dist-like
 * ones. For each package: `npm pack` into a temp dir (tarballs over 50 MB are skipped), `tar
 * -xzf`, keep files with a web-asset extension (EXTENSIONS) under a dist-like folder
 * (DIST_DIRS, not under SKIP_DIRS), drop package metadata and the names the package's build
 * really content-hashes (HASHED, each with its reason), dedupe by basename (the first package
 * in list order wins), then cap each package's share so that icon sets and locale folders with
 * thousands of look-alike names do not drown the rest: names with a "tricky" token (digits,
 * hex-like, odd mixed case: the ones a hash rule could mistake) are favoured, the rest are
 * sampled evenly per folder. --dump writes every asset found before capping, for review.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, dirname, basename } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The packages used for the committed list (versions pinned so that a re-run reproduces it). */
const PACKAGES = [
  // Libraries and their CSS
  'jquery@3.7.1', 'jquery@4.0.0', 'jquery-ui-dist@1.13.3', 'jquery-migrate@3.5.2', 'jquery-validation@1.22.1',
  'bootstrap@5.3.9', 'bootstrap@3.4.1', 'popper.js@1.16.1', '@popperjs/core@2.11.8', 'tippy.js@6.3.7',
  'chart.js@4.6.1', 'chartjs-plugin-annotation@3.1.0', 'lodash@4.18.1', 'underscore@1.13.8',
  'moment@2.31.0', 'moment-timezone@0.6.0', 'dayjs@1.11.23', 'handlebars@4.7.10', 'd3@7.9.2',
  'vue@3.5.45', 'alpinejs@3.17.5', 'htmx.org@2.0.8', 'bulma@1.0.4', 'animate.css@4.1.1=all',
  'normalize.css@8.0.1=all', 'socket.io-client@4.8.4', 'gsap@3.15.0', 'aos@2.3.4', 'lottie-web@5.13.0',
  // Widgets
  'select2@4.1.0', 'datatables.net@3.1.5', 'datatables.net-dt@3.1.2', 'tabulator-tables@6.5.3',
  'sweetalert2@11.26.25', 'toastr@2.1.4=all', 'flatpickr@4.6.13', 'bootstrap-datepicker@1.10.1',
  'dropzone@6.3.5', 'cropperjs@1.6.2', 'photoswipe@5.4.4', 'swiper@14.4.0=all', 'slick-carousel@1.8.1',
  'owl.carousel@2.3.4', 'magnific-popup@1.2.0', 'lightgallery@2.9.0', 'intl-tel-input@29.5.1',
  'nouislider@15.8.1', 'choices.js@11.2.4', 'tom-select@2.6.2', 'jstree@3.3.17',
  // Editors, viewers, documentation
  'quill@2.0.3', 'trix@2.1.19', 'easymde@2.21.0', 'summernote@0.9.1', 'tinymce@8.9.2=all',
  'ckeditor4@4.25.2=all', 'codemirror@5.65.20', 'ace-builds@1.45.2', 'jsoneditor@10.4.3',
  'katex@0.19.1', 'mathjax@3.2.2', 'mathjax@2.7.9', '@highlightjs/cdn-assets@11.12.0', 'prismjs@1.30.0',
  'swagger-ui-dist@5.35.0=all', 'redoc@3.0.1', 'graphiql@5.4.0', 'mermaid@12.3.0', 'pdfjs-dist@6.5.438',
  'pdfmake@0.3.11', 'xlsx@0.18.5', 'raphael@2.3.0=all', '@ckeditor/ckeditor5-build-classic@44.3.0',
  'angular@1.8.3', 'angular-i18n@1.8.3=all', 'kendo-ui-core@2026.3.812', 'jquery-ui-themes@1.12.0',
  'datatables@1.10.18', 'bootstrap-select@1.13.18', 'jasmine-core@7.0.2', 'highcharts@13.1.1',
  // Media, charts, maps, 3D
  'video.js@8.24.1', 'mediaelement@7.1.0', 'plyr@3.8.4', 'hls.js@1.7.4', 'plotly.js-dist-min@4.1.2=all',
  'echarts@6.1.0', 'leaflet@1.9.4', 'leaflet.markercluster@1.5.3', 'ol@10.11.0', 'maplibre-gl@6.20.0',
  'three@0.187.0',
  // Icon sets and emoji
  'bootstrap-icons@1.13.2', '@fortawesome/fontawesome-free@7.3.1', 'font-awesome@4.7.0',
  'material-icons@1.13.14', 'ionicons@8.1.0', '@mdi/font@7.4.47', 'simple-line-icons@2.5.5',
  'remixicon@4.9.1', 'boxicons@2.1.4', 'flag-icons@7.5.0', '@vscode/codicons@0.0.45',
  '@primer/octicons@19.42.0', 'weather-icons@1.3.2', 'primeicons@8.0.2=all', 'simple-icons@16.37.0',
  '@twemoji/svg@15.0.0=all', 'openmoji@17.0.0',
  // Web fonts
  '@fontsource/inter@5.3.0', '@fontsource/roboto@5.3.0', '@fontsource/open-sans@5.3.0',
  '@fontsource-variable/inter@5.3.0', 'inter-ui@4.1.1', 'roboto-fontface@0.10.0', 'open-sans-fonts@1.6.2=all',
  'source-sans@3.52.0', 'firacode@6.2.0', 'jetbrains-mono@1.0.6', 'lato-font@3.0.0',
];

/** A file is taken when one of its folders (within the package) is one of these. */
const DIST_DIRS = new Set([
  'dist', 'build', 'builds', 'bundles', 'umd', 'cdn', 'min', 'css', 'scss-compiled', 'js', 'esm', 'browser',
  'fonts', 'font', 'webfonts', 'files', 'woff', 'woff2', 'ttf', 'eot', 'otf', 'svg', 'svgs', 'standard_fonts',
  'img', 'images', 'icons', 'png', 'sprites', 'flags', '4x3', '1x1', 'assets', 'static', 'media', 'wasm',
  'styles', 'themes', 'theme', 'skins', 'skin', 'locale', 'locales', 'lang', 'langs', 'i18n', 'l10n',
  'plugins', 'components', 'models', 'addon', 'mode', 'keymap', 'cmaps', 'web', 'es5', 'output',
  'src-min', 'src-noconflict', 'src-min-noconflict', 'extensions', 'data', 'packed', 'zones', 'distr',
  'variable', 'web-latin', 'vf', 'ext', 'alt', 'renderers', 'jax', 'localization',
].map((d) => d.toLowerCase()));
/** ...unless one of its folders is one of these. */
const SKIP_DIRS = new Set(['node_modules', 'test', 'tests', '__tests__', 'spec', 'specs', 'demo', 'demos', 'docs', 'doc', 'example', 'examples', 'benchmark', 'benchmarks', 'types', 'typings', 'src', 'source', 'scss', 'sass', 'less', 'ts', 'samples', 'tasks', 'guidelines', 'helpers', 'bin', 'scripts', 'gulp-tasks', '.github']);
const EXTENSIONS = new Set(['js', 'mjs', 'cjs', 'css', 'map', 'woff', 'woff2', 'ttf', 'eot', 'otf', 'svg', 'png', 'jpg', 'jpeg', 'gif', 'webp', 'avif', 'ico', 'json', 'wasm', 'txt']);
/** Package metadata, not assets. */
const NOT_ASSETS = /^(package|bower|component|composer|tsconfig.*|jsconfig|typedoc|api-extractor|\.?eslintrc|\.?babelrc|lerna|renovate|LICEN[CS]E.*|README.*|CHANGELOG.*|CONTRIBUTING.*|AUTHORS.*|NOTICE.*|[Gg]runtfile|gulpfile|.*\.config|log\..*)\.[a-z]+$/i;
/** Larger tarballs are skipped (not extracted). */
const MAX_TARBALL = 50 * 1024 * 1024;
/** New names kept per package: at most TRICKY tricky ones, then up to PER_PACKAGE in all. */
const TRICKY = 13;
const PER_PACKAGE = 20;
/** Of the non-tricky names, at most this many per folder of a package (evenly sampled). */
const PER_DIR = 6;
/** Kept whatever the caps: names a reader of the list will look for, and shapes that trip hash rules. */
const FAVOURED = /^(jquery\.min\.js|jquery-ui\.min\.css|bootstrap\.min\.css|bootstrap-grid\.rtl\.min\.css|bootstrap\.bundle\.min\.js|pdf\.worker\.min\.mjs|pdf\.min\.mjs|katex\.min\.css|KaTeX_Main-Regular\.woff2|OpenSans-Semibold\.woff2|Inter-SemiBold\.woff2|atom-one-dark(\.min)?\.css|highlight\.min\.js|fa-solid-900\.woff2|fontawesome-webfont\.woff2|glyphicons-halflings-regular\.woff2|swagger-ui-bundle\.js|vue\.global\.prod\.js|d3\.min\.js|three\.module\.min\.js|leaflet\.css|marker-icon-2x\.png|codemirror\.css|mermaid\.min\.js|prism-okaidia\.min\.css|tinymce\.min\.js|moment-with-locales\.min\.js|arrow-90deg-up\.svg|move-to-end-16\.svg|GUST-FONT-LICENSE\.txt|kendo\.culture\.sr-Latn-RS\.min\.js)$/;

/**
 * Names that ARE content-hashed by the package's own build: excluded. Keyed by package name;
 * each rule is a pattern on the path within the package, and why.
 */
const HASHED = {
  mermaid: [{
    pattern: /^dist\/chunks\//,
    why: 'esbuild code splitting, [name]-[hash]: chunk-2Q5K7J3B.mjs, diagram-3B7GL73J.mjs, architecture-LC7QOZUM-5NGVVLDI.mjs',
  }],
  ionicons: [{
    pattern: /^dist\/ionicons\/p-/,
    why: "Stencil's www build, p-[hash]: p-BdioGpgU.js, p-c19c6b42.entry.js",
  }, {
    pattern: /^dist\/(esm|cjs)\/[^/]+-[A-Za-z0-9_]{8}\.js$/,
    why: 'Stencil/Rollup shared chunks, [name]-[hash]: index-BdioGpgU.js, app-globals-V2Kpy_OQ.js',
  }],
  'kendo-ui-core': [{
    pattern: /^(js|esm)\/[^/]+-[A-Za-z0-9_]{8}\.js(\.map)?$/,
    why: 'Rollup shared chunks, [name]-[hash]: kendo.core-CzZkWepm.js, kendo.data-B6CQ4T_7.js, licensing-BpSRe8nN.js',
  }],
};

/** The basename's tokens a hash rule could mistake for a hash: digits, hex-like, odd mixed case. */
export function tricky(name) {
  const parts = name.split('.');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    // Whole parts, their tails after each separator (where hash tokens sit) and their pieces.
    const tails = [part, ...[...part.matchAll(/[-_@~]/g)].map((m) => part.slice(m.index + 1)), ...part.split(/[-_@~]/)];
    for (const t of tails) {
      if (t.length < 4 || t.length > 40 || !/^[A-Za-z0-9_-]+$/.test(t)) continue;
      if (/[0-9]/.test(t) && /[A-Za-z]/.test(t)) return true;
      if (/^[0-9a-f]{4,}$/i.test(t) && /[0-9]/.test(t)) return true;
      if (/[A-Z]/.test(t) && /[a-z]/.test(t) && !/[a-z]{4}/.test(t)) return true;
      if (/[0-9]{3,}[-_][0-9]{3,}/.test(t)) return true;
      if (t.length >= 6 && /^[A-Z0-9_-]+$/.test(t) && /[A-Z]{2}/.test(t)) return true;
    }
  }
  return false;
}

function parseArgs(argv) {
  let out = fileURLToPath(new URL('../test/fixtures/unhashed-names.txt', import.meta.url));
  let dump;
  const specs = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') out = argv[++i];
    else if (argv[i] === '--dump') dump = argv[++i];
    else specs.push(argv[i]);
  }
  return { out, dump, specs: specs.length ? specs : PACKAGES };
}

function walk(dir, base = dir, files = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) walk(full, base, files);
    else if (entry.isFile()) files.push(relative(base, full).split('\\').join('/'));
  }
  return files;
}

function isAsset(path, all) {
  const name = basename(path);
  const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  if (!name.includes('.') || name.startsWith('.') || !EXTENSIONS.has(ext) || NOT_ASSETS.test(name)) return false;
  if (name.endsWith('.d.ts.map') || name.endsWith('.d.mts.map') || name.endsWith('.d.cts.map')) return false;
  const dirs = path.split('/').slice(0, -1);
  if (dirs.some((d) => SKIP_DIRS.has(d))) return false;
  if (all || dirs.some((d) => DIST_DIRS.has(d.toLowerCase()))) return true;
  return dirs.length === 0 && (/[.-]min\.(js|mjs|css)(\.map)?$|\.(css|woff2?|ttf|eot|otf|svg|png|gif|ico)$/.test(name));
}

/** Evenly spaced picks from a sorted list (deterministic). */
function sample(list, n) {
  if (list.length <= n) return list;
  const step = list.length / n;
  return Array.from({ length: n }, (_, i) => list[Math.floor(i * step)]);
}

function main() {
  const { out, dump, specs } = parseArgs(process.argv.slice(2));
  const work = mkdtempSync(join(tmpdir(), 'unhashed-names-'));
  const used = [];
  const excluded = [];
  const byBasename = new Map();
  const dumped = [];
  let n = 0;
  try {
    for (const raw of specs) {
      const all = raw.endsWith('=all');
      const spec = all ? raw.slice(0, -'=all'.length) : raw;
      const dir = join(work, String(n++));
      mkdirSync(dir);
      let packed;
      try {
        packed = JSON.parse(execFileSync('npm', ['pack', spec, '--json', '--pack-destination', dir], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 }))[0];
      } catch (err) {
        process.stderr.write(`skip ${spec}: npm pack failed: ${String(err.stderr || err.message).trim().split('\n').pop()}\n`);
        continue;
      }
      const tarball = join(dir, packed.filename);
      const size = statSync(tarball).size;
      if (size > MAX_TARBALL) {
        process.stderr.write(`skip ${spec}: tarball ${(size / 1e6).toFixed(1)} MB\n`);
        continue;
      }
      execFileSync('tar', ['-xzf', tarball, '-C', dir]);
      const top = readdirSync(dir, { withFileTypes: true }).find((e) => e.isDirectory());
      const id = `${packed.name}@${packed.version}`;
      const rules = [...(HASHED['*'] ?? []), ...(HASHED[packed.name] ?? [])];
      const assets = [];
      for (const path of walk(join(dir, top.name)).sort()) {
        if (!isAsset(path, all)) continue;
        const rule = rules.find((r) => r.pattern.test(path));
        if (rule) excluded.push(`${id}/${path}  (${rule.why})`);
        else assets.push(path);
      }
      dumped.push(...assets.map((p) => `${id}/${p}`));
      // One path per new basename, then the package's share: tricky names first, the rest
      // evenly sampled per folder, then evenly over the package.
      const fresh = new Map();
      for (const path of assets) if (!byBasename.has(basename(path)) && !fresh.has(basename(path))) fresh.set(basename(path), path);
      const paths = [...fresh.values()];
      const picked = paths.filter((p) => FAVOURED.test(basename(p)));
      picked.push(...sample(paths.filter((p) => !picked.includes(p) && tricky(basename(p))), TRICKY));
      const byDir = new Map();
      for (const path of paths.filter((p) => !picked.includes(p) && !tricky(basename(p)))) {
        if (!byDir.has(dirname(path))) byDir.set(dirname(path), []);
        byDir.get(dirname(path)).push(path);
      }
      const rest = [...byDir.values()].flatMap((list) => sample(list, PER_DIR)).sort();
      picked.push(...sample(rest, Math.max(0, PER_PACKAGE - picked.length)));
      for (const path of picked) byBasename.set(basename(path), `${id}/${path}`);
      const added = picked.length;
      used.push(`${id} (${added})`);
      process.stderr.write(`${id}: ${assets.length} assets, ${added} new names\n`);
      rmSync(dir, { recursive: true, force: true });
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const lines = [...byBasename.values()].sort();
  const header = [
    '# Real file names of web assets that are NOT content-hashed, from popular npm packages\'',
    '# dist-like folders: a name rule that takes any of them for a hashed name would pin a',
    '# mutable file in browsers for a year. One `package@version/path/within/package` a line,',
    '# one per basename (deduplicated), sorted.',
    `# Made by scripts/unhashed-names.mjs (npm pack + tar, then filtered) on ${new Date().toISOString().slice(0, 10)}.`,
    '# Excluded: package metadata, and names the package\'s own build content-hashes (see HASHED',
    '# there: mermaid\'s esbuild chunks, ionicons\' Stencil chunks, kendo-ui-core\'s Rollup chunks).',
    `# At most ${PER_PACKAGE} new names a package (${TRICKY} with digits or hash-like tokens), sampled evenly.`,
    `# ${lines.length} names from ${used.length} packages (with the number of names each contributed):`,
    ...used.map((u) => `#   ${u}`),
  ];
  writeFileSync(out, header.join('\n') + '\n' + lines.join('\n') + '\n');
  process.stderr.write(`wrote ${lines.length} names from ${used.length} packages to ${out}\n`);
  if (dump) writeFileSync(dump, dumped.join('\n') + '\n');
  if (excluded.length) process.stderr.write(`excluded as hashed:\n  ${excluded.join('\n  ')}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
