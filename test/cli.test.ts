/**
 * The command as users run it: a real process, its output, its exit codes and signals.
 * Runs src/cli.ts through tsx (the same code `npm run build` compiles to dist/cli.js).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { request as httpRequest } from 'node:http';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { totalmem } from 'node:os';
import { OPTIONS } from '../src/config.js';
import { request } from './helpers/http.js';
import { runCli, spawnCli } from './helpers/cli.js';
import { freePort } from './helpers/cluster.js';
import { diskOrigin, tempDir } from './helpers/temp-dir.js';

const hashedge = spawnCli;
const run = runCli;

test('`hashedge serve` on the sample origin prints a URL that serves a cached asset, and SIGTERM exits 0', async () => {
  const child = hashedge(['serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn']);
  try {
    const lines = createInterface({ input: child.stdout });
    let tryUrl: string | undefined;
    for await (const line of lines) {
      const m = /^Try: curl -i (\S+)$/.exec(line);
      if (m) {
        tryUrl = m[1];
        break;
      }
    }
    assert.ok(tryUrl, 'serve prints a URL to try');
    const res = await request(tryUrl);
    assert.equal(res.status, 200);
    assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal((await request(tryUrl)).headers['cache-status'], 'hashedge; hit');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('the start-up lines name the status page and the JSON stats; with --workers each worker logs worker_listening once', async () => {
  const child = hashedge(['serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'info', '--workers', '2', '--cache-size', '64MiB']);
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  try {
    const lines: string[] = [];
    for await (const line of createInterface({ input: child.stdout })) {
      lines.push(line);
      if (line.startsWith('Stats (JSON): ')) break;
    }
    const url = /listening on (\S+)/.exec(lines[0] ?? '')?.[1];
    assert.ok(url, lines.join('\n'));
    assert.ok(lines.includes(`Status page: ${url}/_hashedge/`), lines.join('\n'));
    assert.ok(lines.includes(`Stats (JSON): ${url}/_hashedge/stats`), lines.join('\n'));
    const page = await request(`${url}/_hashedge/`);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    const listening = stderr.split('\n').filter((l) => l.includes('"event":"worker_listening"'));
    assert.equal(listening.length, 2, `one worker_listening per worker:\n${listening.join('\n')}`);
    assert.deepEqual(new Set(listening.map((l) => (JSON.parse(l) as { worker: number }).worker)), new Set([0, 1]));
  } finally {
    child.kill('SIGKILL');
  }
});

test('--immutable and --mutable may be repeated: each adds globs (as a comma list would)', async () => {
  const origin = await diskOrigin({ 'fonts/inter.woff2': 'font', 'media/intro.mp4': 'video', 'media/live.mp4': 'video' }, 'cli-rules');
  const child = hashedge(['serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', '--origin', origin.dir, '--immutable', 'fonts/**', '--immutable', 'media/*.mp4', '--mutable', 'media/live.*']);
  try {
    let url: string | undefined;
    for await (const line of createInterface({ input: child.stdout })) {
      url = /listening on (\S+)/.exec(line)?.[1];
      if (url) break;
    }
    assert.ok(url, 'serve prints its URL');
    const immutable = async (path: string) => (await request(`${url}/${path}`)).headers['cache-control'];
    assert.equal(await immutable('fonts/inter.woff2'), 'public, max-age=31536000, immutable');
    assert.equal(await immutable('media/intro.mp4'), 'public, max-age=31536000, immutable');
    assert.equal((await request(`${url}/media/live.mp4`)).status, 404);
  } finally {
    child.kill('SIGKILL');
    await origin.remove();
  }
});

test('no secret is ever echoed: not in start-up errors, logs, /_hashedge/stats, /metrics or error bodies', async () => {
  const peerSecret = 'peer-secret-CANARY-4f1c';
  const adminToken = 'admin-token-CANARY-93ab';
  const awsSecret = 'aws-secret-CANARY-77d0';
  // A secret too short, or with a space: refused at start-up (exit 2), without repeating it.
  for (const [flag, value] of [['--peer-secret', 's3cret-peer'], ['--admin-token', 'short CANARY']] as const) {
    const bad = await run(['serve', flag, value]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, new RegExp(`${flag}: expected a token of 16 or more visible ASCII characters, got a value of ${value.length} characters`));
    assert.doesNotMatch(bad.stdout + bad.stderr, /s3cret|CANARY/);
  }
  const port = await freePort();
  const self = `http://127.0.0.1:${port}`;
  // An S3 origin that refuses connections: its errors are logged, the credentials never.
  const child = hashedge(['serve', '--port', String(port), '--host', '127.0.0.1', '--log-level', 'debug', '--access-log', '--origin', 's3://bucket/site', '--s3-endpoint', 'http://127.0.0.1:9', '--self', self, '--peers', self, '--peer-secret', peerSecret, '--admin-token', adminToken], { AWS_ACCESS_KEY_ID: 'AKIACANARY', AWS_SECRET_ACCESS_KEY: awsSecret });
  let output = '';
  child.stdout.on('data', (c) => (output += c));
  child.stderr.on('data', (c) => (output += c));
  try {
    for await (const line of createInterface({ input: child.stdout })) if (/listening on/.test(line)) break;
    const bodies: string[] = [];
    for (const [path, headers] of [
      ['/_hashedge/stats', {}], ['/metrics', {}], ['/assets/app-0492830483.js', {}], ['/../etc/passwd', {}],
      ['/_hashedge/peer/assets%2Fx-0492830483.js', { authorization: 'Bearer wrong-token-0123456789', 'x-hashedge-hop': '1' }],
    ] as const) bodies.push((await request(`${self}${path}`, { headers })).body.toString());
    const purge = await new Promise<string>((resolve, reject) => {
      const req = httpRequest(`${self}/_hashedge/purge`, { method: 'POST', headers: { authorization: 'Bearer not-the-admin-token!', 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.end('{"keys":["assets/app-0492830483.js"]}');
    });
    child.kill('SIGTERM');
    await once(child, 'exit');
    const everything = [output, ...bodies, purge].join('\n');
    assert.ok(everything.length > 1000, 'there was output to search');
    for (const secret of [peerSecret, adminToken, awsSecret, 'CANARY']) assert.ok(!everything.includes(secret), `${secret} appeared in an output`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('every usage error exits 2 in every command; --help and --version exit 0', async () => {
  for (const args of [['upload', '--bogus'], ['upload', 'dist', '--to'], ['serve', '--bogus'], ['get'], ['get', 'http://127.0.0.1:9/x.js', '--bogus'], ['demo', '--bogus'], ['nonsense'], []]) {
    const { code, stderr } = await run(args);
    assert.equal(code, 2, `hashedge ${args.join(' ')}: ${stderr}`);
  }
  for (const args of [['--help'], ['--version'], ['upload', '--help'], ['serve', '--help']]) assert.equal((await run(args)).code, 0, args.join(' '));
});

test('a closed stdout ends `get` quietly, and `serve` keeps serving (hashedge get URL | head -1)', async () => {
  const serve = hashedge(['serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', '--access-log']);
  let serveErr = '';
  serve.stderr.on('data', (c) => (serveErr += c));
  try {
    let url: string | undefined;
    for await (const line of createInterface({ input: serve.stdout })) {
      url = /^Try: curl -i (\S+)$/.exec(line)?.[1];
      if (url) break;
    }
    assert.ok(url);
    // As `| head -1` does: the reader goes away after the first line.
    serve.stdout.destroy();
    for (let i = 0; i < 3; i++) assert.equal((await request(url)).status, 200, 'serve still serves (its access log hits a closed stdout)');

    const get = hashedge(['get', url]);
    let getErr = '';
    get.stderr.on('data', (c) => (getErr += c));
    get.stdout.once('data', () => get.stdout.destroy());
    const [code] = (await once(get, 'exit')) as [number | null];
    assert.equal(code, 0, getErr);
    assert.doesNotMatch(getErr, /EPIPE|Error/);
    assert.doesNotMatch(serveErr, /EPIPE|Error/);
    assert.equal(serve.exitCode, null, 'serve is still running');
  } finally {
    serve.kill('SIGKILL');
  }
});

test('an invalid option stops start-up with exit code 2 and names the option', async () => {
  const { code, stderr } = await run(['serve', '--cache-size', 'huge']);
  assert.equal(code, 2);
  assert.match(stderr, /--cache-size: expected a size like 512MB or 1GiB, got "huge"/);
  assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
});

test('--cache-size alone may be small (the max object size follows it); one over the memory starts with a coded warning', async () => {
  const overMemory = String(Math.ceil((totalmem() * 2) / 2 ** 20)) + 'MiB';
  for (const [size, warned] of [['32MB', false], [overMemory, true]] as const) {
    const child = hashedge(['serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', '--cache-size', size]);
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const exited = once(child, 'exit') as Promise<[number | null]>;
    try {
      let url: string | undefined;
      for await (const line of createInterface({ input: child.stdout })) {
        url = /listening on (\S+)/.exec(line)?.[1];
        if (url) break;
      }
      assert.ok(url, stderr);
      const stats = JSON.parse((await request(`${url}/_hashedge/stats`)).body.toString()) as { cache: { budgetBytes: number; hot: { budgetBytes: number } } };
      assert.ok(stats.cache.budgetBytes > 0);
      child.kill('SIGTERM');
      const [code] = await exited;
      assert.equal(code, 0, stderr);
      if (warned) assert.match(stderr, /\[HASHEDGE_CACHE_OVER_MEMORY\] Warning: --cache-size \d+MiB is more than (the machine's memory|the cgroup memory limit)/);
      else assert.doesNotMatch(stderr, /HASHEDGE_CACHE_OVER_MEMORY|max-object-size/);
    } finally {
      child.kill('SIGKILL');
    }
  }
  const explicit = await run(['serve', '--cache-size', '32MB', '--max-object-size', '64MB']);
  assert.equal(explicit.code, 2);
  assert.match(explicit.stderr, /--max-object-size \(64000000 bytes\) must not exceed --cache-size \(32000000 bytes\)/);
});

test('NODE_ENV=production without an origin exits 2 saying so; a misspelled HASHEDGE_* variable is a coded warning naming the option', async () => {
  const refused = await run(['serve', '--port', '0'], { NODE_ENV: 'production', HASHEDGE_ORIGN: '/srv/assets' });
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /hashedge: --origin: required when NODE_ENV=production/);
  assert.match(refused.stderr, /\[HASHEDGE_UNKNOWN_ENV\] Warning: HASHEDGE_ORIGN is not a hashedge option and is ignored: did you mean HASHEDGE_ORIGIN \(--origin\)\?/);
  assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');

  // Given, the origin is served in production; a typo elsewhere still starts, with its warning.
  const child = hashedge(['serve', '--port', '0', '--host', '127.0.0.1', '--log-level', 'warn', '--origin', new URL('../sample', import.meta.url).pathname], { NODE_ENV: 'production', HASHEDGE_ACCES_LOG: 'true' });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const exited = once(child, 'exit') as Promise<[number | null]>;
  try {
    for await (const line of createInterface({ input: child.stdout })) if (/listening on/.test(line)) break;
    child.kill('SIGTERM');
    const [code] = await exited;
    assert.equal(code, 0, stderr);
    assert.match(stderr, /\[HASHEDGE_UNKNOWN_ENV\] Warning: HASHEDGE_ACCES_LOG is not a hashedge option and is ignored: did you mean HASHEDGE_ACCESS_LOG \(--access-log\)\?/);
  } finally {
    child.kill('SIGKILL');
  }

  // upload reads the S3 options from the environment too.
  const upload = await run(['upload', '/nonexistent-build-dir', '--to', '/nonexistent-target'], { HASHEDGE_S3_REGON: 'eu-west-1' });
  assert.match(upload.stderr, /\[HASHEDGE_UNKNOWN_ENV\] Warning: HASHEDGE_S3_REGON is not a hashedge option and is ignored: did you mean HASHEDGE_S3_REGION \(--s3-region\)\?/);
});

test('--help lists every option with its env var', async () => {
  const { code, stdout } = await run(['serve', '--help']);
  assert.equal(code, 0);
  for (const spec of OPTIONS) {
    assert.match(stdout, new RegExp(`--${spec.name}\\b`));
    assert.match(stdout, new RegExp(`HASHEDGE_${spec.name.toUpperCase().replace(/-/g, '_')}\\b`));
  }
});

test('no --help shows an empty default: every [default: ...] of every command has a value', async () => {
  for (const command of ['serve', 'upload', 'demo']) {
    const { code, stdout } = await run([command, '--help']);
    assert.equal(code, 0, command);
    // --help wraps lines: read it as one.
    const defaults = [...stdout.replace(/\s+/g, ' ').matchAll(/\[default:([^\]]*)\]/g)].map((m) => m[1]!);
    assert.ok(defaults.length > 0, command);
    for (const value of defaults) assert.match(value, /^ \S/, `${command} --help: [default:${value}]`);
  }
});

test('the built dist/cli.js, which the Dockerfile runs, starts and answers --version', async () => {
  const dist = new URL('../dist/cli.js', import.meta.url).pathname;
  const child = spawn(process.execPath, [dist, '--version'], { stdio: 'pipe' });
  let stdout = '';
  child.stdout.on('data', (c) => (stdout += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, 'dist/ is built by `npm install` (prepare) and by `npm run build`');
  assert.match(stdout, /^\d+\.\d+\.\d+/);
});

test('--config reads options from a JSON file; flags win over it; a bad value names the file', async () => {
  const dir = await tempDir('config');
  try {
    const good = dir.path('edge.json');
    await dir.write('edge.json', JSON.stringify({ host: '127.0.0.1', port: 1, 'log-level': 'warn', 'cache-size': '64MiB' }));
    // The file's port (1, privileged) is overridden by the flag; the server starts and answers.
    const child = hashedge(['serve', '--config', good, '--port', '0']);
    try {
      const lines = createInterface({ input: child.stdout });
      let url: string | undefined;
      for await (const line of lines) {
        url = /listening on (\S+)/.exec(line)?.[1];
        if (url) break;
      }
      const stats = JSON.parse((await request(`${url}/_hashedge/stats`)).body.toString()) as { cache: { budgetBytes: number } };
      assert.equal(stats.cache.budgetBytes, 64 * 1024 * 1024);
    } finally {
      child.kill('SIGKILL');
    }
    const bad = dir.path('bad.json');
    await dir.write('bad.json', JSON.stringify({ 'cache-size': 'huge' }));
    const badValue = await run(['serve', '--config', bad]);
    assert.equal(badValue.code, 2);
    assert.match(badValue.stderr, /"cache-size" in .*bad\.json: expected a size/);
    await dir.write('bad.json', JSON.stringify({ 'cache-sise': '1GiB' }));
    const typo = await run(['serve', '--config', bad]);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown option "cache-sise"/);
  } finally {
    await dir.remove();
  }
});
