/**
 * `npm pack` makes a package that works installed elsewhere: the tarball holds what the bin, the
 * library entry and its types need and nothing of the repository's own (tests, sources, bench),
 * and an app that installs it runs `hashedge --help` and `hashedge upload --dry-run`, and
 * type-checks an import of it with nothing but @types/node.
 *
 * The pack runs in a copy of the working tree (without node_modules, .git and dist/; its
 * node_modules links to this one's), so `prepare` builds dist/ from the sources afresh, as for
 * a clean clone, and never rewrites this checkout's dist/ under the tests that run it. The
 * install needs the npm registry (or npm's cache) for hashedge's dependencies.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'hashedge-pack-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(command: string, args: readonly string[], cwd: string, timeout = 120_000): { code: number | null; stdout: string; stderr: string } {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });
  if (result.error) throw result.error;
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

test('npm pack makes a package an app installs and runs: the bin, upload --dry-run, the typed entry', { timeout: 180_000 }, () => {
  // The working tree as a clean clone would have it, with this checkout's dependencies.
  const repo = join(work, 'repo');
  cpSync(ROOT, repo, {
    recursive: true,
    filter: (source) => !['node_modules', '.git', 'dist', 'tmp'].includes(relative(ROOT, source).split(sep)[0]!),
  });
  symlinkSync(realpathSync(join(ROOT, 'node_modules')), join(repo, 'node_modules'), 'dir');

  // npm pack runs prepare (tsc) first.
  const packed = run('npm', ['pack', '--json', '--pack-destination', work], repo);
  assert.equal(packed.code, 0, `npm pack failed:\n${packed.stderr}`);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
  const files = info!.files.map((f) => f.path).sort();
  for (const needed of ['package.json', 'README.md', 'dist/cli.js', 'dist/index.js', 'dist/index.d.ts', 'public/index.html', 'sample/manifest.json']) {
    assert.ok(files.includes(needed), `the tarball lacks ${needed}`);
  }
  const stray = files.filter((f) => /^(test|src|bench|scripts|docs|deploy|node_modules|\.ci)\//.test(f) || (f.endsWith('.ts') && !f.endsWith('.d.ts')));
  assert.deepEqual(stray, [], 'the tarball holds only dist/, public/, sample/, README.md and package.json');
  assert.ok(files.every((f) => /^(dist|public|sample)\//.test(f) || ['package.json', 'README.md', 'LICENSE'].includes(f)), files.join('\n'));

  // An app that installs the tarball (scripts off: hashedge has none an installed package needs).
  const app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const installed = run('npm', ['install', join(work, info!.filename), '--no-audit', '--no-fund', '--ignore-scripts'], app);
  assert.equal(installed.code, 0, `npm install of the tarball failed (it needs the npm registry or npm's cache for hashedge's dependencies):\n${installed.stderr}`);
  const bin = join(app, 'node_modules', '.bin', 'hashedge');

  const help = run(bin, ['--help'], app, 30_000);
  assert.equal(help.code, 0, help.stderr);
  for (const command of ['serve', 'upload', 'get']) assert.match(help.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), command);

  // A small build: a hashed script, a page that names it, an image nothing names.
  const build = join(app, 'build');
  mkdirSync(join(build, 'assets'), { recursive: true });
  writeFileSync(join(build, 'assets', 'index-BwT4yKxK.js'), 'console.log(1);\n');
  writeFileSync(join(build, 'index.html'), '<script type="module" src="/assets/index-BwT4yKxK.js"></script>\n');
  writeFileSync(join(build, 'logo.png'), 'not really a png');
  const upload = run(bin, ['upload', 'build', '--to', join(work, 'bucket'), '--dry-run'], app, 30_000);
  assert.equal(upload.code, 0, upload.stderr);
  assert.match(upload.stdout, /assets\/index-BwT4yKxK\.js\s+immutable/);
  assert.match(upload.stdout, /index\.html\s+no-cache/);
  assert.match(upload.stdout, /logo\.png -> logo-[0-9a-f]{10}\.png\s+renamed, immutable/);
  assert.match(upload.stdout, /Nothing was written/);

  // The typed entry, strict and with skipLibCheck off, given @types/node alone (no @types/express).
  mkdirSync(join(app, 'types', '@types'), { recursive: true });
  symlinkSync(realpathSync(join(ROOT, 'node_modules', '@types', 'node')), join(app, 'types', '@types', 'node'), 'dir');
  writeFileSync(join(app, 'use.ts'), "import { resolveConfig, startEdge, type Origin } from 'hashedge';\nexport const uses: [typeof resolveConfig, typeof startEdge, Origin?] = [resolveConfig, startEdge];\n");
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, skipLibCheck: false, typeRoots: ['./types/@types'], types: ['node'] },
    files: ['use.ts'],
  }));
  const tsc = run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', app], app);
  assert.equal(tsc.code, 0, tsc.stdout + tsc.stderr);
});
