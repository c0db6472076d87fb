#!/usr/bin/env node
// Builds small apps with real bundlers (installed from npm into a temp dir), labels every
// emitted file hashed / unhashed from the bundler's own metadata, cross-checks the labels
// against a second build of slightly changed sources, and writes test/fixtures/bundlers/*.json.
//
//   node scripts/bundler-corpus/corpus.mjs [setup ...]     (default: all setups)
//
// Env: CORPUS_WORK (default /tmp/hashedge-bundler-corpus), CORPUS_REUSE_INSTALL=1 to skip
// `npm install` when the setup's temp project already has node_modules.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { npmInstall, installedVersion, crossCheck, writeFixture, rm } from './lib.mjs';
import { SETUPS } from './setups.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, '../..');
const FIXTURES = path.join(REPO, 'test/fixtures/bundlers');
const WORK = process.env.CORPUS_WORK ?? '/tmp/hashedge-bundler-corpus';

const wanted = process.argv.slice(2);
const unknown = wanted.filter((w) => !SETUPS[w]);
if (unknown.length) {
  console.error(`unknown setup(s): ${unknown.join(', ')}; known: ${Object.keys(SETUPS).join(', ')}`);
  process.exit(2);
}
const names = wanted.length ? wanted : Object.keys(SETUPS);
let failed = 0;

for (const name of names) {
  const setup = SETUPS[name];
  const base = path.join(WORK, name);
  const appDir = path.join(base, 'app');
  console.log(`\n=== ${name}`);
  try {
    if (!(process.env.CORPUS_REUSE_INSTALL && fs.existsSync(path.join(appDir, 'node_modules')))) {
      rm(appDir);
      npmInstall(appDir, setup.deps);
    }
    const tools = Object.fromEntries(setup.tools.map((p) => [p, installedVersion(appDir, p)]));
    console.log(`  tools: ${JSON.stringify(tools)}`);
    const runs = {};
    for (const v of ['a', 'b']) {
      setup.writeApp(appDir, v);
      const outs = await setup.build(appDir, v, { here: HERE });
      for (const [fixture, r] of Object.entries(outs)) {
        const keep = path.join(base, `out-${v}`, fixture);
        rm(keep);
        fs.mkdirSync(path.dirname(keep), { recursive: true });
        fs.cpSync(r.outDir, keep, { recursive: true });
        (runs[fixture] ??= {})[v] = { ...r, outDir: keep };
      }
    }
    const summary = {};
    for (const [fixture, { a, b }] of Object.entries(runs)) {
      const s = crossCheck(fixture, a.outDir, b.outDir, a.labels);
      const bytes = writeFixture(path.join(FIXTURES, `${fixture}.json`), { setup: fixture, tools, labels: a.labels, evidence: a.evidence ?? {} });
      summary[fixture] = { tools, ...s };
      console.log(`  ${fixture}: ${s.files} files, ${s.hashed} hashed / ${s.unhashed} unhashed; ` +
        `same path in both builds: ${s.samePathSameBytes.length} identical, ${s.samePathChanged.length} changed ` +
        `(${s.samePathChanged.join(', ') || '-'}); hashed files unchanged across builds: ${s.hashedKept}; fixture ${bytes} bytes`);
    }
    fs.writeFileSync(path.join(base, 'summary.json'), JSON.stringify(summary, null, 2));
  } catch (e) {
    failed++;
    console.error(`  FAILED ${name}: ${e.stack ?? e}`);
    if (e.stdout) console.error(String(e.stdout).slice(-4000));
    if (e.stderr) console.error(String(e.stderr).slice(-4000));
  }
}
process.exit(failed ? 1 : 0);
