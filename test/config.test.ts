import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { cacheSizeWarning, editDistance, memoryLimit, unknownEnvWarnings, readConfigFile, resolveConfig, renderOptionsMarkdown, OPTIONS, envName } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { parseDuration, parseSize } from '../src/units.js';
import { tempDir } from './helpers/temp-dir.js';

test('sizes and durations take units, SI and IEC exactly', () => {
  assert.equal(parseSize('512MB'), 512e6);
  assert.equal(parseSize('1GiB'), 2 ** 30);
  assert.equal(parseSize('64 mib'), 64 * 2 ** 20);
  assert.equal(parseSize('1500'), 1500);
  assert.equal(parseSize('12 parsecs'), undefined);
  assert.equal(parseDuration('1500ms'), 1500);
  assert.equal(parseDuration('10s'), 10_000);
  assert.equal(parseDuration('2m'), 120_000);
  assert.equal(parseDuration('10'), undefined, 'a bare number is ambiguous');
  assert.equal(parseDuration('0'), 0);
});

test('defaults, then env, then flags', () => {
  const defaults = resolveConfig();
  assert.equal(defaults.port, 8080);
  assert.equal(defaults.cacheSize, 512 * 2 ** 20);
  assert.equal(defaults.origin.kind, 'disk');
  const fromEnv = resolveConfig({}, { HASHEDGE_PORT: '9000', HASHEDGE_CACHE_SIZE: '64MB' });
  assert.equal(fromEnv.port, 9000);
  assert.equal(fromEnv.cacheSize, 64e6);
  const flagWins = resolveConfig({ port: '9100' }, { HASHEDGE_PORT: '9000' });
  assert.equal(flagWins.port, 9100);
  assert.ok(Object.isFrozen(flagWins));
});

test('DNS discovery options: name and port, DNS servers with optional ports', () => {
  const config = resolveConfig({ 'peers-dns': 'Hashedge-Peers.default.svc.cluster.local:8080', self: 'http://10.0.0.7:8080', 'dns-servers': '10.96.0.10,127.0.0.1:5353,[::1]:53' });
  assert.deepEqual(config.peersDns, { name: 'hashedge-peers.default.svc.cluster.local', port: 8080 });
  assert.deepEqual(config.dnsServers, ['10.96.0.10', '127.0.0.1:5353', '[::1]:53']);
  assert.equal(resolveConfig({ 'hot-cache-share': '0.25' }).hotCacheShare, 0.25);
});

test('cluster membership: --self must be one of --peers (IPv6 too), URLs compared in one canonical form; --self-address builds --self', () => {
  const peers = 'http://10.0.0.1:8080,http://10.0.0.2:8080';
  assert.throws(() => resolveConfig({ self: 'http://10.0.0.9:8080', peers }), (err: Error) => err instanceof ConfigError && /--self http:\/\/10\.0\.0\.9:8080 is not one of --peers \(http:\/\/10\.0\.0\.1:8080, http:\/\/10\.0\.0\.2:8080\)/.test(err.message));
  // Written differently, the same member: case, a trailing slash, a default port.
  const same = resolveConfig({ self: 'HTTP://Node-A.example:80/', peers: 'http://node-a.example,http://node-b.example:80' });
  assert.equal(same.self, 'http://node-a.example');
  assert.deepEqual(same.peers, ['http://node-a.example', 'http://node-b.example']);
  const v6 = resolveConfig({ self: 'http://[FD00:0:0::1]:8080', peers: 'http://[fd00::1]:8080,http://[fd00::2]:8080' });
  assert.equal(v6.self, 'http://[fd00::1]:8080');
  assert.equal(resolveConfig({ 'self-address': 'fd00::1', peers: 'http://[fd00::1]:8080,http://[fd00::2]:8080', port: '8080' }).self, 'http://[fd00::1]:8080');
  assert.equal(resolveConfig({ 'self-address': '10.1.2.3', 'peers-dns': 'peers.example:9000' }).self, 'http://10.1.2.3:9000');
  assert.throws(() => resolveConfig({ 'self-address': '10.1.2.3', self: 'http://10.1.2.3:8080' }), /--self and --self-address: give one, not both/);
  assert.throws(() => resolveConfig({ self: 'http://10.0.0.1:8080/edge', peers: 'http://10.0.0.1:8080/edge' }), /--self: expected an http\(s\) URL with no path/);
});

test('shutdown: a 5 s lame-duck period by default, 0 allowed', () => {
  assert.equal(resolveConfig().shutdownDelay, 5_000);
  assert.equal(resolveConfig({}, { HASHEDGE_SHUTDOWN_DELAY: '0' }).shutdownDelay, 0);
  assert.equal(resolveConfig({ 'shutdown-delay': '1500ms' }).shutdownDelay, 1_500);
});

test('an S3 origin URL gives bucket and prefix', () => {
  const config = resolveConfig({ origin: 's3://my-assets/site/v1' });
  assert.deepEqual(config.origin, { kind: 's3', bucket: 'my-assets', prefix: 'site/v1/' });
});

test('invalid values fail at start-up naming the option and what was expected', () => {
  const cases: Array<[Record<string, string>, Record<string, string>, RegExp]> = [
    [{ 'cache-size': 'lots' }, {}, /--cache-size: expected a size/],
    [{}, { HASHEDGE_ORIGIN_TIMEOUT: '10' }, /HASHEDGE_ORIGIN_TIMEOUT: expected a duration/],
    [{ port: '70000' }, {}, /--port: expected an integer from 0 to 65535/],
    [{ origin: 'ftp://x/y' }, {}, /--origin: expected a directory path or s3:\/\/bucket\/prefix/],
    [{ 'cors-origin': 'example.com' }, {}, /--cors-origin/],
    [{ 'max-object-size': '2GiB', 'cache-size': '1GiB' }, {}, /--max-object-size .* must not exceed --cache-size/],
    [{ 'peers-dns': 'peers.svc:8080' }, {}, /--self: required with --peers-dns/],
    [{ 'peers-dns': 'peers.svc', self: 'http://10.0.0.1:8080' }, {}, /--peers-dns: expected a DNS name and port/],
    [{ 'peers-dns': 'peers.svc:8080', self: 'http://node-1:8080' }, {}, /--self: with --peers-dns, expected http:\/\/<this node's IP>:8080/],
    [{ 'peers-dns': 'peers.svc:8080', self: 'http://10.0.0.1:9090' }, {}, /--self: with --peers-dns/],
    [{ 'peers-dns': 'peers.svc:8080', self: 'http://10.0.0.1:8080', peers: 'http://10.0.0.1:8080' }, {}, /--peers and --peers-dns/],
    [{ 'dns-servers': 'dns.example' }, {}, /--dns-servers: expected a comma list of IP addresses/],
    [{ 'hot-cache-share': '0.9' }, {}, /--hot-cache-share: expected a fraction from 0 to 0.5/],
    [{ 'admin-token': 'short' }, {}, /--admin-token: expected a token of 16 or more/],
    [{ 'shutdown-delay': '5' }, {}, /--shutdown-delay: expected a duration/],
  ];
  for (const [flags, env, message] of cases) {
    assert.throws(() => resolveConfig(flags, env), (err: unknown) => err instanceof ConfigError && err.code === 'E_CONFIG' && message.test(err.message));
  }
});

test('--max-object-size unset follows --cache-size (min(32MiB, a quarter, a worker share)); given above --cache-size it is refused naming both', () => {
  const MiB = 2 ** 20;
  assert.equal(resolveConfig().maxObjectSize, 32 * MiB, 'default cache: 32MiB');
  const small = resolveConfig({ 'cache-size': '32MB' });
  assert.equal(small.maxObjectSize, Math.floor(32e6 / 4), '--cache-size 32MB alone starts');
  assert.equal(resolveConfig({}, { HASHEDGE_CACHE_SIZE: '8MiB' }).maxObjectSize, 2 * MiB);
  assert.equal(resolveConfig({ 'cache-size': '64MiB', workers: '8' }).maxObjectSize, 8 * MiB, 'at most a worker share');
  assert.equal(resolveConfig({ 'cache-size': '32MB', 'max-object-size': '20MB' }).maxObjectSize, 20e6, 'given: as given');
  assert.equal(resolveConfig({ 'cache-size': '32MB' }, { HASHEDGE_MAX_OBJECT_SIZE: '20MB' }).maxObjectSize, 20e6);
  for (const [flags, env] of [[{ 'cache-size': '32MB', 'max-object-size': '33MB' }, {}], [{ 'cache-size': '32MB' }, { HASHEDGE_MAX_OBJECT_SIZE: '64MiB' }]] as const) {
    assert.throws(() => resolveConfig(flags, env), (err: unknown) => err instanceof ConfigError && /^--max-object-size \(\d+ bytes\) must not exceed --cache-size \(32000000 bytes\)/.test(err.message));
  }
});

test('a --cache-size over the memory the process may have is a warning, not an error; the cgroup limit counts when lower', () => {
  const GiB = 2 ** 30;
  const memory = { bytes: 2 * GiB, source: 'the test machine' };
  assert.equal(cacheSizeWarning({ cacheSize: GiB }, memory), undefined);
  assert.match(cacheSizeWarning({ cacheSize: 4 * GiB }, memory)!, /^--cache-size 4096MiB is more than the test machine, 2048MiB/);
  assert.equal(memoryLimit(() => 'max\n').bytes, totalmem());
  assert.equal(memoryLimit(() => { throw Object.assign(new Error('no'), { code: 'ENOENT' }); }).bytes, totalmem());
  const limited = memoryLimit(() => '268435456\n');
  assert.deepEqual(limited, { bytes: 256 * 2 ** 20, source: 'the cgroup memory limit (/sys/fs/cgroup/memory.max)' });
  assert.match(cacheSizeWarning({ cacheSize: GiB }, limited)!, /cgroup memory limit/);
});

test('with NODE_ENV=production there is no default origin: flag, env or config file must give one', async () => {
  const production = { NODE_ENV: 'production' };
  assert.throws(() => resolveConfig({}, production), (err: unknown) => err instanceof ConfigError && /^--origin: required when NODE_ENV=production .*--origin, HASHEDGE_ORIGIN or "origin" in the --config file/.test(err.message));
  assert.equal(resolveConfig({}, { NODE_ENV: 'development' }).origin.kind, 'disk', 'outside production: the bundled sample');
  assert.deepEqual(resolveConfig({ origin: 's3://assets' }, production).origin, { kind: 's3', bucket: 'assets', prefix: '' });
  assert.deepEqual(resolveConfig({}, { ...production, HASHEDGE_ORIGIN: '/srv/assets' }).origin, { kind: 'disk', root: '/srv/assets' });
  const dir = await tempDir('config', { 'edge.json': JSON.stringify({ origin: '/srv/assets' }) });
  try {
    assert.deepEqual(resolveConfig({}, production, readConfigFile(dir.path('edge.json'))).origin, { kind: 'disk', root: '/srv/assets' });
  } finally {
    await dir.remove();
  }
});

test('a HASHEDGE_* variable that is no option is warned of, naming the closest option by edit distance', () => {
  assert.equal(editDistance('ORIGN', 'ORIGIN'), 1);
  assert.equal(editDistance('kitten', 'sitting'), 3);
  assert.deepEqual(unknownEnvWarnings({ HASHEDGE_ORIGIN: '/srv', HASHEDGE_CONFIG: 'x.json', PATH: '/bin', NODE_ENV: 'production' }), []);
  assert.deepEqual(unknownEnvWarnings({ HASHEDGE_ORIGN: '/srv', HASHEDGE_CACHESIZE: '1GiB', HASHEDGE_CONFG: 'x.json', HASHEDGE_WHATEVER_ELSE: '1' }), [
    'HASHEDGE_CACHESIZE is not a hashedge option and is ignored: did you mean HASHEDGE_CACHE_SIZE (--cache-size)?',
    'HASHEDGE_CONFG is not a hashedge option and is ignored: did you mean HASHEDGE_CONFIG?',
    'HASHEDGE_ORIGN is not a hashedge option and is ignored: did you mean HASHEDGE_ORIGIN (--origin)?',
    'HASHEDGE_WHATEVER_ELSE is not a hashedge option and is ignored.',
  ]);
});

test('the README options table is the one rendered from the option table', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  assert.ok(readme.includes(renderOptionsMarkdown()), 'README options table is stale: run `npm run docs`');
  for (const spec of OPTIONS) assert.ok(readme.includes(envName(spec.name)), spec.name);
});

test('a --config file: option names or camelCase keys, lists as arrays, below flags and env', async () => {
  const dir = await tempDir('config');
  try {
    const path = dir.path('edge.json');
    await dir.write('edge.json', JSON.stringify({ port: 9000, cacheSize: '1GiB', 'allow-unhashed': true, self: 'http://10.0.0.1:8080', peers: ['http://10.0.0.1:8080', 'http://10.0.0.2:8080'] }));
    const file = readConfigFile(path);
    const config = resolveConfig({}, {}, file);
    assert.equal(config.port, 9000);
    assert.equal(config.cacheSize, 2 ** 30);
    assert.equal(config.allowUnhashed, true);
    assert.deepEqual(config.peers, ['http://10.0.0.1:8080', 'http://10.0.0.2:8080']);
    assert.equal(resolveConfig({}, { HASHEDGE_PORT: '9100' }, file).port, 9100, 'env wins over the file');
    assert.equal(resolveConfig({ port: '9200' }, { HASHEDGE_PORT: '9100' }, file).port, 9200, 'flags win over both');
    // Globs as a list, commas inside braces kept; presets by name.
    await dir.write('edge.json', JSON.stringify({ immutable: ['_next/static/**', '/media/*.{mp4,webm}'], mutable: 'assets/config-*.js', presets: 'sveltekit,vite' }));
    const rules = resolveConfig({}, {}, readConfigFile(path));
    assert.deepEqual(rules.immutable, ['_next/static/**', 'media/*.{mp4,webm}']);
    assert.deepEqual(rules.mutable, ['assets/config-*.js']);
    assert.deepEqual(rules.presets, ['sveltekit', 'vite']);
    assert.deepEqual(resolveConfig({ presets: 'none' }).presets, []);
    assert.deepEqual(resolveConfig().presets, ['nextjs', 'sveltekit', 'astro', 'nuxt']);
    assert.throws(() => resolveConfig({ presets: 'nextjs,gatsby' }), /--presets: expected none, or a comma list of nextjs, sveltekit, astro, nuxt, vite/);
    assert.throws(() => resolveConfig({ immutable: '../secrets/**' }), /--immutable: expected globs/);
    await dir.write('edge.json', '{"port": ');
    assert.throws(() => readConfigFile(path), /--config .*edge\.json: cannot read it as JSON/);
    assert.throws(() => readConfigFile(dir.path('missing.json')), /no such file/);
    await dir.write('edge.json', JSON.stringify({ peers: { a: 1 } }));
    assert.throws(() => readConfigFile(path), /"peers" must be a string, number, boolean or list of strings/);
  } finally {
    await dir.remove();
  }
});

test('TLS options: cert and key together, --tls-port and --hsts only with them, a port of its own, a plain port for a cluster', () => {
  const tls = { 'tls-cert': '/etc/tls/tls.crt', 'tls-key': '/etc/tls/tls.key' };
  const config = resolveConfig({ ...tls, 'tls-port': '8443', hsts: '8760h' });
  assert.equal(config.tlsCert, '/etc/tls/tls.crt');
  assert.equal(config.tlsPort, 8443);
  assert.equal(config.hsts, 8760 * 3600 * 1000);
  assert.equal(resolveConfig({}).hsts, undefined, 'HSTS is off by default');
  assert.equal(resolveConfig({}, { HASHEDGE_TLS_CERT: '/a.pem', HASHEDGE_TLS_KEY: '/a.key' }).tlsKey, '/a.key', 'from the environment too');
  const refused: Array<[Record<string, string>, RegExp]> = [
    [{ 'tls-cert': '/a.pem' }, /^--tls-cert and --tls-key: give both/],
    [{ 'tls-port': '8443' }, /^--tls-port: needs --tls-cert and --tls-key/],
    [{ hsts: '1h' }, /^--hsts: needs --tls-cert and --tls-key/],
    [{ ...tls, port: '8443', 'tls-port': '8443' }, /^--tls-port 8443 is also --port/],
    [{ ...tls, self: 'http://10.0.0.1:8080', peers: 'http://10.0.0.1:8080,http://10.0.0.2:8080' }, /^--tls-cert in a cluster: .*add --tls-port .* or --admin-port/],
    [{ ...tls, hsts: 'forever' }, /^--hsts: expected a duration like 8760h/],
  ];
  for (const [flags, message] of refused) {
    assert.throws(() => resolveConfig(flags), (err: unknown) => err instanceof ConfigError && message.test(err.message), JSON.stringify(flags));
  }
});
