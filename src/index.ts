/**
 * hashedge as a library (package.json "main": dist/index.js): start an edge from a Config,
 * or use its parts (the group, origins) on their own. What the CLI does is built from these.
 * Importing this module has no side effects: nothing listens, the AWS SDK is loaded only when
 * an S3 origin is created.
 */
export { startEdge, type Edge, type EdgeDependencies } from './edge.js';
export { resolveConfig, readConfigFile, type Config, type ConfigFile, type CorsPolicy, type RawOptions } from './config.js';
export { createLogger, silentLogger, type Logger, type LogLevel } from './log.js';
export { EdgeError, ConfigError, OriginError, OriginTimeoutError, NotFoundError, type ErrorCode } from './errors.js';

// Origins: the interface a store implements, the directory store, the one a Config names.
export type { ByteRange, Origin, OriginGetOptions, OriginObject, OriginSpec } from './origin/origin.js';
export { DiskOrigin } from './origin/disk.js';
export { createOrigin, type OriginConfig } from './origin/create.js';

// The cache: the group and what its lookups answer.
export {
  Group,
  BUFFER_WHOLE_BYTES,
  HOT_AFTER_REQUESTS,
  HOT_WINDOW_MS,
  type FetchStatus,
  type GroupOptions,
  type GroupStats,
  type Lookup,
  type LookupOptions,
  type PeerPicker,
} from './cache/group.js';
export type { Blob, Representation } from './cache/blob.js';
export type { Fill } from './cache/fill.js';
export type { Verdict } from './asset/immutability.js';
