// One entry per bundler setup: its npm dependencies, the app it builds, and how it builds and
// labels the output. build(appDir, variant) returns { fixtureName: { outDir, labels, evidence } }
// with labels a Map of output-relative path -> { hashed, why }.
import fs from 'node:fs';
import path from 'node:path';
import { sh, write, rm, walk, writeSpa, png, blob } from './lib.mjs';

const readJson = (f) => JSON.parse(fs.readFileSync(f, 'utf8'));
const labelsFromFile = (f) => new Map(readJson(f));

/** Labels for files copied verbatim from a static folder (Vite public/, SvelteKit static/). */
function staticCopies(srcDir, outDir, labels, why) {
  if (!fs.existsSync(srcDir)) return;
  for (const f of walk(srcDir)) {
    if (!fs.existsSync(path.join(outDir, f))) throw new Error(`${f} from ${srcDir} not in output`);
    if (labels.has(f)) throw new Error(`${f} is both a bundle output and a static copy`);
    labels.set(f, { hashed: false, why });
  }
}

// --- Vite --------------------------------------------------------------------------------

const vite = {
  deps: { vite: '^8' },
  tools: ['vite', 'rolldown'],
  writeApp(dir, v) {
    writeSpa(dir, v, { image: 'import', css: true, html: 'vite', publicDir: true });
  },
  async build(dir, v, { here }) {
    write(path.join(dir, 'build-vite.mjs'), `import fs from 'node:fs';
import { build } from 'vite';
import { labeler } from ${JSON.stringify(path.join(here, 'rollup-labeler.mjs'))};
const [outDir, manifest, labelsFile] = process.argv.slice(2);
const rec = new Map();
// No config file: Vite's defaults, plus the recording plugin (and build.manifest for the 2nd setup).
await build({ configFile: false, root: process.cwd(), logLevel: 'warn',
  build: { outDir, emptyOutDir: true, manifest: manifest === 'true' }, plugins: [labeler(rec)] });
fs.writeFileSync(labelsFile, JSON.stringify([...rec]));
`);
    const res = {};
    for (const [fixture, manifest] of [['vite', false], ['vite-manifest', true]]) {
      const outDir = path.join(dir, `dist-${fixture}`);
      const lf = path.join(dir, `labels-${fixture}.json`);
      sh('node', ['build-vite.mjs', outDir, String(manifest), lf], { cwd: dir });
      const labels = labelsFromFile(lf);
      staticCopies(path.join(dir, 'public'), outDir, labels, 'copied as-is from public/ (Vite publicDir)');
      const evidence = {};
      const mf = path.join(outDir, '.vite/manifest.json');
      if (fs.existsSync(mf)) evidence['.vite/manifest.json'] = fs.readFileSync(mf, 'utf8');
      res[fixture] = { outDir, labels, evidence };
    }
    return res;
  },
};

// --- Rollup ------------------------------------------------------------------------------

const rollup = {
  deps: { rollup: '^4' },
  tools: ['rollup'],
  writeApp(dir, v) {
    writeSpa(dir, v, { image: false, css: false });
    write(path.join(dir, 'src/style.css'), `/* emitted as an asset by a tiny CSS plugin (variant ${v}) */\nbody { color: #${v === 'a' ? '333' : '444'}; }\n`);
  },
  async build(dir, v, { here }) {
    write(path.join(dir, 'build-rollup.mjs'), `import fs from 'node:fs';
import { rollup } from 'rollup';
import { labeler } from ${JSON.stringify(path.join(here, 'rollup-labeler.mjs'))};
const [outDir, labelsFile] = process.argv.slice(2);
const rec = new Map();
// Stand-in for a CSS plugin: emits src/style.css as a named asset (named by assetFileNames).
const css = { name: 'css-asset', buildStart() {
  this.emitFile({ type: 'asset', name: 'style.css', source: fs.readFileSync('src/style.css', 'utf8') });
} };
fs.rmSync(outDir, { recursive: true, force: true });
const bundle = await rollup({ input: 'src/main.js', plugins: [css, labeler(rec)] });
await bundle.write({ dir: outDir, format: 'es', entryFileNames: '[name]-[hash].js', chunkFileNames: '[name]-[hash].js' });
await bundle.close();
fs.writeFileSync(labelsFile, JSON.stringify([...rec]));
`);
    const outDir = path.join(dir, 'dist');
    const lf = path.join(dir, 'labels.json');
    sh('node', ['build-rollup.mjs', outDir, lf], { cwd: dir });
    return { rollup: { outDir, labels: labelsFromFile(lf) } };
  },
};

// --- webpack -----------------------------------------------------------------------------

const webpack = {
  deps: { webpack: '^5', 'html-webpack-plugin': '^5', 'mini-css-extract-plugin': '^2', 'css-loader': '^7' },
  tools: ['webpack', 'html-webpack-plugin', 'mini-css-extract-plugin', 'css-loader'],
  writeApp(dir, v) {
    writeSpa(dir, v, { image: 'import', css: true });
  },
  async build(dir) {
    write(path.join(dir, 'build-webpack.mjs'), `import fs from 'node:fs';
import path from 'node:path';
import webpack from 'webpack';
import HtmlWebpackPlugin from 'html-webpack-plugin';
import MiniCssExtractPlugin from 'mini-css-extract-plugin';
const [which, outDir, labelsFile] = process.argv.slice(2);
const rules = [
  { test: /\\.css$/i, use: [MiniCssExtractPlugin.loader, 'css-loader'] },
  { test: /\\.(png|svg|jpg|jpeg|gif)$/i, type: 'asset/resource' },
  { test: /\\.(woff|woff2|eot|ttf|otf)$/i, type: 'asset/resource' },
];
const configs = {
  // webpack's caching guide: [name].[contenthash].js, deterministic ids, a runtime chunk.
  contenthash: {
    mode: 'production', context: process.cwd(), entry: { main: './src/main.js' },
    output: { filename: '[name].[contenthash].js', path: outDir, clean: true },
    plugins: [new HtmlWebpackPlugin({ title: 'Caching' }), new MiniCssExtractPlugin({ filename: '[name].[contenthash].css' })],
    module: { rules },
    optimization: { moduleIds: 'deterministic', runtimeChunk: 'single',
      splitChunks: { cacheGroups: { vendor: { test: /[\\\\/]node_modules[\\\\/]/, name: 'vendors', chunks: 'all' } } } },
  },
  // webpack's defaults: main.js, [id].js chunks, asset modules [hash][ext][query], [name].css.
  default: {
    mode: 'production', context: process.cwd(), entry: './src/main.js',
    output: { path: outDir, clean: true },
    plugins: [new HtmlWebpackPlugin(), new MiniCssExtractPlugin()],
    module: { rules },
  },
};
const stats = await new Promise((res, rej) => webpack(configs[which], (err, s) => (err ? rej(err) : res(s))));
if (stats.hasErrors()) throw new Error(stats.toString('errors-only'));
const json = stats.toJson({ all: false, assets: true, cachedAssets: true, relatedAssets: true });
const rec = [];
const visit = (a) => {
  const i = a.info ?? {};
  rec.push([a.name, { hashed: i.immutable === true,
    why: i.immutable ? 'webpack stats info.immutable: true' + (i.contenthash ? ' (contenthash ' + [].concat(i.contenthash).join(',') + ')' : '')
      : 'webpack stats info.immutable not set' + (i.sourceFilename ? ' (source ' + i.sourceFilename + ')' : '') }]);
  for (const r of a.related ?? []) visit(r);
};
json.assets.forEach(visit);
fs.writeFileSync(labelsFile, JSON.stringify(rec));
`);
    const res = {};
    for (const which of ['contenthash', 'default']) {
      const outDir = path.join(dir, `dist-${which}`);
      const lf = path.join(dir, `labels-${which}.json`);
      sh('node', ['build-webpack.mjs', which, outDir, lf], { cwd: dir });
      res[`webpack-${which}`] = { outDir, labels: labelsFromFile(lf) };
    }
    return res;
  },
};

// --- esbuild -----------------------------------------------------------------------------

const esbuild = {
  deps: { esbuild: '^0' },
  tools: ['esbuild'],
  writeApp(dir, v) {
    writeSpa(dir, v, { image: 'import', css: true });
  },
  async build(dir) {
    write(path.join(dir, 'build-esbuild.mjs'), `import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
const [which, outDir, labelsFile, metaFile] = process.argv.slice(2);
const names = which === 'hashed'
  ? { entryNames: '[name]-[hash]', chunkNames: '[name]-[hash]', assetNames: '[name]-[hash]' }
  : {}; // esbuild defaults: entryNames [dir]/[name], chunkNames [name]-[hash], assetNames [name]-[hash]
const eff = { entryNames: '[dir]/[name]', chunkNames: '[name]-[hash]', assetNames: '[name]-[hash]', ...names };
fs.rmSync(outDir, { recursive: true, force: true });
const entryPoints = ['src/main.js'];
const r = await esbuild.build({ entryPoints, bundle: true, splitting: true, format: 'esm',
  minify: true, outdir: outDir, metafile: true, loader: { '.png': 'file', '.woff2': 'file' }, ...names });
fs.writeFileSync(metaFile, JSON.stringify(r.metafile, null, 2));
// Which template named each output, from the metafile: outputs of an entry point (its JS and the
// CSS bundle beside it) use entryNames; outputs of the file loader use assetNames (their only
// input is the asset file, with no imports); the other JS/CSS outputs are split chunks.
const outs = r.metafile.outputs;
const cssOfEntry = new Set(Object.values(outs).filter((o) => entryPoints.includes(o.entryPoint)).map((o) => o.cssBundle).filter(Boolean));
const loaderFile = (o) => Object.keys(o.inputs).length === 1 && o.imports.length === 0 && !o.entryPoint &&
  Object.keys(o.inputs).every((i) => r.metafile.inputs[i] && !r.metafile.inputs[i].format && r.metafile.inputs[i].imports.length === 0 && /\\.(png|woff2)$/.test(i));
const rec = [];
for (const [p, o] of Object.entries(outs)) {
  const rel = path.relative(path.resolve(outDir), path.resolve(p)).split(path.sep).join('/');
  // A dynamic import() target also gets an entryPoint in the metafile, but esbuild names it
  // with chunkNames: only the configured entryPoints (and their CSS bundles) use entryNames.
  const userEntry = (o.entryPoint && entryPoints.includes(o.entryPoint)) || cssOfEntry.has(p);
  const key = userEntry ? 'entryNames' : loaderFile(o) ? 'assetNames' : 'chunkNames';
  rec.push([rel, { hashed: eff[key].includes('[hash]'), why: key + ' ' + eff[key] + (names[key] ? '' : ' (default)') }]);
}
fs.writeFileSync(labelsFile, JSON.stringify(rec));
`);
    const res = {};
    for (const [which, fixture] of [['hashed', 'esbuild'], ['defaults', 'esbuild-defaults']]) {
      const outDir = path.join(dir, `dist-${which}`);
      const lf = path.join(dir, `labels-${which}.json`);
      sh('node', ['build-esbuild.mjs', which, outDir, lf, path.join(dir, `meta-${which}.json`)], { cwd: dir });
      res[fixture] = { outDir, labels: labelsFromFile(lf) };
    }
    return res;
  },
};

// --- Parcel ------------------------------------------------------------------------------

const parcel = {
  deps: { parcel: '^2' },
  tools: ['parcel', '@parcel/core'],
  writeApp(dir, v) {
    writeSpa(dir, v, { image: 'parcel', css: true, html: 'parcel' });
  },
  async build(dir) {
    write(path.join(dir, 'build-parcel.mjs'), `import fs from 'node:fs';
import path from 'node:path';
import { Parcel } from '@parcel/core';
const [outDir, labelsFile] = process.argv.slice(2);
fs.rmSync(outDir, { recursive: true, force: true });
const bundler = new Parcel({ entries: 'index.html', defaultConfig: '@parcel/config-default', mode: 'production',
  shouldDisableCache: true, defaultTargetOptions: { distDir: outDir } });
const { bundleGraph } = await bundler.run();
const rec = [];
for (const b of bundleGraph.getBundles()) {
  const rel = path.relative(outDir, b.filePath).split(path.sep).join('/');
  const l = b.needsStableName
    ? { hashed: false, why: 'Parcel bundle with needsStableName (entry, ' + b.type + '): no content hash' }
    : { hashed: true, why: 'Parcel bundle without needsStableName (' + b.type + '): name carries its content hash' };
  rec.push([rel, l]);
  if (fs.existsSync(b.filePath + '.map')) rec.push([rel + '.map', { ...l, why: 'source map named after its bundle: ' + l.why }]);
}
fs.writeFileSync(labelsFile, JSON.stringify(rec));
`);
    const outDir = path.join(dir, 'dist');
    const lf = path.join(dir, 'labels.json');
    rm(path.join(dir, '.parcel-cache'));
    sh('node', ['build-parcel.mjs', outDir, lf], { cwd: dir });
    return { parcel: { outDir, labels: labelsFromFile(lf) } };
  },
};

// --- Next.js -----------------------------------------------------------------------------

function nextLabels(dir, outDir) {
  const pub = new Set(walk(path.join(dir, 'public')));
  const labels = new Map();
  for (const f of walk(outDir)) {
    if (f.startsWith('_next/static/')) labels.set(f, { hashed: true, why: 'under _next/static/: immutable per the Next.js docs' });
    else if (pub.has(f)) labels.set(f, { hashed: false, why: 'copied as-is from public/' });
    else if (f.endsWith('.html')) labels.set(f, { hashed: false, why: 'exported HTML page (same name every build)' });
    else if (f.endsWith('.txt')) labels.set(f, { hashed: false, why: 'RSC payload of the static export (same name every build)' });
    else labels.set(f, { hashed: false, why: 'outside _next/static/' });
  }
  return labels;
}

const next = {
  deps: { next: '^16', react: '^19', 'react-dom': '^19' },
  tools: ['next', 'react', 'react-dom'],
  writeApp(dir, v) {
    write(path.join(dir, 'next.config.mjs'), `// static export (variant ${v})\nexport default { output: 'export' };\n`);
    write(path.join(dir, 'app/globals.css'), `/* global styles (variant ${v}) */\nbody { font-family: sans-serif; }\nbody::after { content: "${v}"; }\n`);
    write(path.join(dir, 'app/layout.js'), `import './globals.css';
export const metadata = { title: 'corpus ${v}' };
export default function RootLayout({ children }) {
  return <html lang="en"><body><nav><a href="/">Home</a> <a href="/faq/">FAQ</a> <a href="/tabs/">Tabs</a></nav>{children}</body></html>;
}
`);
    write(path.join(dir, 'app/page.js'), `export default function Home() {
  return <main><h1>Home (${v})</h1><img src="/logo.png" alt="logo" width="48" height="48" /></main>;
}
`);
    write(path.join(dir, 'app/faq/page.js'), `import FAQ from '../../components/FAQ';
export default function Page() { return <main><h1>FAQ page (${v})</h1><FAQ /></main>; }
`);
    write(path.join(dir, 'app/tabs/page.js'), `import Tabs from '../../components/Tabs';
export default function Page() { return <main><h1>Tabs page (${v})</h1><Tabs /></main>; }
`);
    write(path.join(dir, 'components/FAQ.js'), `export default function FAQ() { return <p>How are hashed assets cached? (${v})</p>; }\n`);
    write(path.join(dir, 'components/Tabs.js'), `'use client';
import { useState } from 'react';
import dynamic from 'next/dynamic';
const GanttChart = dynamic(() => import('./GanttChart'), { ssr: false });
export default function Tabs() {
  const [tab, setTab] = useState('list');
  return <div><button onClick={() => setTab('list')}>List</button><button onClick={() => setTab('gantt')}>Gantt (${v})</button>
    {tab === 'gantt' ? <GanttChart /> : <p>list view</p>}</div>;
}
`);
    write(path.join(dir, 'components/GanttChart.js'), `'use client';
export default function GanttChart() { return <pre>{'design ##\\nbuild ####\\nship #'} (${v})</pre>; }
`);
    write(path.join(dir, 'public/logo.png'), png(`next-logo-${v}`));
    write(path.join(dir, 'public/robots.txt'), `# robots (variant ${v})\nUser-agent: *\n`);
  },
  async build(dir) {
    const res = {};
    for (const [fixture, args] of [['next-turbopack', ['build']], ['next-webpack', ['build', '--webpack']]]) {
      rm(path.join(dir, '.next'));
      rm(path.join(dir, 'out'));
      sh('npx', ['next', ...args], { cwd: dir });
      const outDir = path.join(dir, `out-${fixture}`);
      rm(outDir);
      fs.renameSync(path.join(dir, 'out'), outDir);
      res[fixture] = { outDir, labels: nextLabels(dir, outDir) };
    }
    return res;
  },
};

// --- SvelteKit ---------------------------------------------------------------------------

const sveltekit = {
  deps: { '@sveltejs/kit': '^2', '@sveltejs/adapter-static': '^3', '@sveltejs/vite-plugin-svelte': 'latest', svelte: '^5', vite: 'latest' },
  tools: ['@sveltejs/kit', '@sveltejs/adapter-static', '@sveltejs/vite-plugin-svelte', 'svelte', 'vite'],
  writeApp(dir, v) {
    write(path.join(dir, 'svelte.config.js'), `import adapter from '@sveltejs/adapter-static';\nexport default { kit: { adapter: adapter() } }; // ${v}\n`);
    write(path.join(dir, 'vite.config.js'), `import { sveltekit } from '@sveltejs/kit/vite';\nexport default { plugins: [sveltekit()] }; // ${v}\n`);
    write(path.join(dir, 'src/app.html'), `<!doctype html>
<html lang="en"><head><meta charset="utf-8" /><link rel="icon" href="%sveltekit.assets%/favicon.png" />%sveltekit.head%</head>
<body data-sveltekit-preload-data="hover"><div style="display: contents">%sveltekit.body%</div><!-- ${v} --></body></html>
`);
    write(path.join(dir, 'src/routes/+layout.js'), `export const prerender = true; // ${v}\n`);
    write(path.join(dir, 'src/routes/+layout.svelte'), `<script>let { children } = $props();</script>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
{@render children()}
<style>nav { padding: 1em; } /* ${v} */</style>
`);
    write(path.join(dir, 'src/routes/+page.svelte'), `<script>
  import logo from '$lib/logo.png';
  let count = $state(0);
</script>
<h1>Home (${v})</h1>
<img src={logo} alt="logo" />
<button onclick={() => count++}>clicked {count}</button>
<style>h1 { color: teal; }</style>
`);
    write(path.join(dir, 'src/routes/about/+page.svelte'), `<h1>About (${v})</h1>\n<style>h1 { color: navy; }</style>\n`);
    write(path.join(dir, 'src/lib/logo.png'), png(`kit-logo-${v}`));
    write(path.join(dir, 'static/robots.txt'), `# robots (variant ${v})\nUser-agent: *\n`);
    write(path.join(dir, 'static/favicon.png'), png(`kit-fav-${v}`, 16, 16));
  },
  async build(dir) {
    rm(path.join(dir, '.svelte-kit'));
    rm(path.join(dir, 'build'));
    sh('npx', ['vite', 'build'], { cwd: dir });
    const outDir = path.join(dir, 'build');
    const stat = new Set(walk(path.join(dir, 'static')));
    const labels = new Map();
    for (const f of walk(outDir)) {
      if (f.startsWith('_app/immutable/')) labels.set(f, { hashed: true, why: 'under _app/immutable/: hashed per the SvelteKit docs' });
      else if (stat.has(f)) labels.set(f, { hashed: false, why: 'copied as-is from static/' });
      else labels.set(f, { hashed: false, why: 'outside _app/immutable/' });
    }
    return { sveltekit: { outDir, labels } };
  },
};

// --- Astro -------------------------------------------------------------------------------

const astro = {
  deps: { astro: '^5', '@astrojs/preact': '^4', preact: '^10' },
  tools: ['astro', '@astrojs/preact', 'preact', 'vite'],
  writeApp(dir, v) {
    write(path.join(dir, 'astro.config.mjs'), `import { defineConfig } from 'astro/config';
import preact from '@astrojs/preact';
export default defineConfig({ output: 'static', integrations: [preact()] }); // ${v}
`);
    write(path.join(dir, 'src/components/Counter.jsx'), `import { useState } from 'preact/hooks';
export default function Counter() {
  const [n, setN] = useState(0);
  return <button onClick={() => setN(n + 1)}>island (${v}): {n}</button>;
}
`);
    // Over Astro's 4 kB inlineStylesheets threshold, so it is emitted as a file rather than inlined.
    const rules = Array.from({ length: 400 }, (_, i) => `.u-${i} { margin: ${i}px; padding: ${i % 7}px; }`).join('\n');
    write(path.join(dir, 'src/styles/global.css'), `/* global (variant ${v}) */\nbody { font-family: sans-serif; }\n${rules}\n`);
    write(path.join(dir, 'src/pages/index.astro'), `---
import { Image } from 'astro:assets';
import Counter from '../components/Counter.jsx';
import photo from '../assets/photo.png';
import '../styles/global.css';
---
<html lang="en"><head><meta charset="utf-8" /><title>corpus ${v}</title></head>
<body><h1>Home (${v})</h1><Image src={photo} alt="photo" /><Counter client:load /><a href="/about/">About</a></body></html>
<style>h1 { color: teal; }</style>
`);
    write(path.join(dir, 'src/pages/about.astro'), `---\n---\n<html lang="en"><head><title>about ${v}</title></head><body><h1>About (${v})</h1></body></html>\n`);
    write(path.join(dir, 'src/assets/photo.png'), png(`astro-photo-${v}`));
    write(path.join(dir, 'public/robots.txt'), `# robots (variant ${v})\nUser-agent: *\n`);
    write(path.join(dir, 'public/favicon.ico'), blob(`astro-ico-${v}`, 1500));
  },
  async build(dir) {
    rm(path.join(dir, '.astro'));
    rm(path.join(dir, 'node_modules/.astro'));
    rm(path.join(dir, 'dist'));
    sh('npx', ['astro', 'build'], { cwd: dir });
    const outDir = path.join(dir, 'dist');
    const pub = new Set(walk(path.join(dir, 'public')));
    const labels = new Map();
    for (const f of walk(outDir)) {
      if (f.startsWith('_astro/')) labels.set(f, { hashed: true, why: 'under _astro/: hashed build assets per the Astro docs' });
      else if (pub.has(f)) labels.set(f, { hashed: false, why: 'copied as-is from public/' });
      else labels.set(f, { hashed: false, why: 'outside _astro/' });
    }
    return { astro: { outDir, labels } };
  },
};

export const SETUPS = { vite, rollup, 'webpack': webpack, esbuild, parcel, next, sveltekit, astro };
