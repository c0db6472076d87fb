#!/usr/bin/env node
/**
 * The command line: parses argv (commander), builds the Config once, calls a command. Thin on
 * purpose (like sirv-cli): everything it can do, the library does.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { cacheSizeWarning, envName, unknownEnvWarnings, OPTIONS, readConfigFile, resolveConfig, type Config, type RawOptions } from './config.js';
import { serve } from './commands/serve.js';
import { get } from './commands/get.js';
import { health } from './commands/health.js';
import { demo, DEMO_FLAGS, resolveDemoFlags } from './commands/demo.js';
import { ConfigError } from './errors.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

// A reader that goes away (`hashedge get URL | head -3`) ends a command quietly; `serve` keeps
// serving (its logs go to stderr; stdout only has its start-up lines and the access log).
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  if (process.argv[2] !== 'serve') process.exit(process.exitCode ?? 0);
});

// Usage errors (unknown flag, missing argument) throw instead of exiting 1: they exit 2 below,
// as bad values do, in every command (settings pass to the subcommands made after this).
const program = new Command()
  .name('hashedge')
  .description('CDN edge cache for immutable, content-hashed web assets.')
  .version(pkg.version)
  .exitOverride();

/** serve's options on `command`: every option of the table, and --config. */
function addServeOptions(command: Command): Command {
  for (const spec of OPTIONS) {
    const def = spec.default === undefined ? 'unset' : spec.name === 'origin' ? 'the bundled sample origin' : 'shownDefault' in spec ? spec.shownDefault : spec.default === '' ? 'none' : spec.default;
    const flags = `--${spec.name}${'arg' in spec ? ' ' + spec.arg : ''}`;
    const description = `${spec.description} [default: ${def}] [env: ${envName(spec.name)}]`;
    // A repeated flag adds to the list (--immutable a/** --immutable b/**), as a comma list would.
    if ('repeatable' in spec && spec.repeatable) command.option(flags, description, (value: string, previous?: string) => (previous === undefined ? value : `${previous},${value}`));
    else command.option(flags, description);
  }
  return command.option('--config <file>', `A JSON file of options keyed by flag name, e.g. {"cache-size": "1GiB"}; flags and env vars win over it. [env: HASHEDGE_CONFIG]`);
}

/** The Config that serve's options, the environment and the config file give. */
function configFrom(opts: Record<string, string | boolean | undefined>): Config {
  const raw: Record<string, string | boolean | undefined> = {};
  for (const spec of OPTIONS) raw[spec.name] = opts[camel(spec.name)];
  const configPath = (opts.config as string | undefined) ?? (process.env.HASHEDGE_CONFIG || undefined);
  const file = configPath === undefined ? undefined : readConfigFile(configPath);
  try {
    return resolveConfig(raw as RawOptions, process.env, file);
  } catch (err) {
    warnUnknownEnv(); // a misspelled variable is often why (HASHEDGE_ORIGN: no origin)
    throw err;
  }
}

addServeOptions(program.command('serve').description('Run an edge node. Every option can also be set as an env var; flags win.')).action(async (opts: Record<string, string | boolean | undefined>) => {
  const config = configFrom(opts);
  // Once per node: a --workers node's workers run this file too.
  if (config.workers === 1 || (await import('node:cluster')).default.isPrimary) {
    warnUnknownEnv();
    const tooBig = cacheSizeWarning(config);
    if (tooBig !== undefined) process.emitWarning(tooBig, { code: 'HASHEDGE_CACHE_OVER_MEMORY' });
  }
  await serve(config);
});

// The container's HEALTHCHECK: the same options as serve, so the port is found however it was set.
addServeOptions(
  program
    .command('health')
    .description("Ask the node on this machine for its liveness route (the admin port with --admin-port, else --port); exit 0 if it answers 200, else 1. Takes serve's options, env vars and --config, to find the port as serve does."),
).action(async (opts: Record<string, string | boolean | undefined>) => {
  if (!(await health(configFrom(opts)))) process.exitCode = 1;
});

const demoCommand = program
  .command('demo')
  .description("Start a slow origin and three clustered nodes, ask each node in turn for one key, and print each request's latency, cache status and the origin's request count.");
for (const spec of DEMO_FLAGS) {
  demoCommand.option(`--${spec.name}${'arg' in spec ? ' ' + spec.arg : ''}`, `${spec.description} [default: ${spec.default}]`);
}
demoCommand.action(async (opts: Record<string, string | boolean | undefined>) => {
  const raw: Record<string, string | boolean | undefined> = {};
  for (const spec of DEMO_FLAGS) raw[spec.name] = opts[camel(spec.name)];
  await demo(resolveDemoFlags(raw));
});

// `hashedge upload <dir> --to <target>`: its flag table and action live in commands/upload.ts.
const { registerUploadCommand } = await import('./commands/upload.js');
registerUploadCommand(program, process.env);
// upload reads the S3 options' HASHEDGE_* variables: a misspelled one is warned of, as in serve.
program.hook('preAction', (_program, command) => {
  if (command.name() === 'upload') warnUnknownEnv();
});

program
  .command('get')
  .description("Fetch an asset through an edge node and print its status, cache status, owner node, timings, whether it is immutable and why, and headers.")
  .argument('<url>', 'the asset URL on an edge node')
  .option('--verify', "check the length, the SHA-256 the edge stored, the ETag, and a hex hash in the name (hashedge upload's scheme); exit 1 if one fails")
  .option('-H, --header <header...>', 'extra request header, e.g. -H "range: bytes=0-99"')
  .option('--admin <url>', "the node's admin listener when it runs with --admin-port (e.g. http://10.0.0.1:9080): the owner is read from its /_hashedge/stats")
  .action(async (url: string, opts: { verify?: boolean; header?: string[]; admin?: string }) => {
    const headers: Record<string, string> = {};
    for (const h of opts.header ?? []) {
      const colon = h.indexOf(':');
      if (colon <= 0) throw new ConfigError(`--header: expected "name: value", got ${JSON.stringify(h)}.`);
      headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
    }
    const result = await get({ url, verify: opts.verify ?? false, headers, ...(opts.admin !== undefined ? { admin: opts.admin } : {}) });
    if (result.status >= 400 || result.problems.length > 0) process.exitCode = 1;
  });

/** A HASHEDGE_* variable that is no option is a coded warning naming the closest one (HASHEDGE_ORIGN). */
function warnUnknownEnv(): void {
  for (const warning of unknownEnvWarnings(process.env)) process.emitWarning(warning, { code: 'HASHEDGE_UNKNOWN_ENV' });
}

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // Commander printed the message (or the help, or the version) already; --help and
    // --version exit 0, everything else is a usage error.
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  if (err instanceof ConfigError) {
    // After the warnings emitted so far (printed on a later tick), which may say why (HASHEDGE_ORIGN).
    setImmediate(() => {
      process.stderr.write(`hashedge: ${err.message}\n`);
      process.exit(2);
    });
    return;
  }
  const { code, port } = err as NodeJS.ErrnoException & { port?: number };
  const inUse = port === undefined ? 'the port is already in use' : `port ${port} is already in use`;
  process.stderr.write(`hashedge: ${code === 'EADDRINUSE' ? inUse : String((err as Error).message ?? err)}${code ? ` (${code})` : ''}\n`);
  process.exit(1);
});
