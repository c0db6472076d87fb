/**
 * Every error hashedge raises on purpose, each with a stable `code` (tests and operators match
 * on it, never on message text) and, where it answers a request, the HTTP `status` to send.
 * Modelled on undici's lib/core/errors.js: one file, one class per family.
 */
export type ErrorCode =
  | 'E_CONFIG'
  | 'E_BAD_PATH'
  | 'E_TRAVERSAL'
  | 'E_DOTFILE'
  | 'E_URI_TOO_LONG'
  | 'E_NOT_HASHED'
  | 'E_NOT_FOUND'
  | 'E_METHOD_NOT_ALLOWED'
  | 'E_PRECONDITION_FAILED'
  | 'E_RANGE_NOT_SATISFIABLE'
  | 'E_ORIGIN'
  | 'E_ORIGIN_FORBIDDEN'
  | 'E_ORIGIN_TRUNCATED'
  | 'E_ORIGIN_INTEGRITY'
  | 'E_ORIGIN_TIMEOUT'
  | 'E_PEER'
  | 'E_PEER_TIMEOUT'
  | 'E_UNAUTHORIZED'
  | 'E_ADMIN_DISABLED'
  | 'E_BAD_PURGE'
  | 'E_UPLOAD' | 'E_UPLOAD_CHANGED' | 'E_UPLOAD_CONFLICT'
  | 'E_PURGE_INCOMPLETE'
  | 'E_METRICS_UNAVAILABLE'
  | 'E_DISK_CACHE_LOCKED';

export class EdgeError extends Error {
  readonly code: ErrorCode;
  /**
   * HTTP status this error answers with; 0 when it never reaches a client (config, start-up).
   * A 4xx (the client's mistake) is made without stack frames; other errors keep them.
   */
  readonly status: number;
  /** Whether the message is safe to show to an HTTP client (it names nothing internal). */
  readonly expose: boolean;

  constructor(code: ErrorCode, status: number, message: string, options?: { cause?: unknown; expose?: boolean }) {
    // A 4xx answers the client's mistake: the client gets its code and message, never a stack,
    // and nothing logs a 4xx's stack (handlers log 5xx only, by code), so none is captured: the
    // capture was about a third of such a request's instructions (bench/RESULTS.md, "Client errors
    // without a stack trace"). V8 reads stackTraceLimit in the Error constructor only, so it is set back
    // at once; `stack` stays a string, the message line. Ours (5xx, status 0) keep their stack.
    const clientError = status >= 400 && status < 500;
    const limit = Error.stackTraceLimit;
    if (clientError) Error.stackTraceLimit = 0;
    try {
      super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    } finally {
      if (clientError) Error.stackTraceLimit = limit;
    }
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.expose = options?.expose ?? status < 500;
  }
}

/** Invalid configuration: names the option and what was expected. Raised at start-up only. */
export class ConfigError extends EdgeError {
  constructor(message: string) {
    super('E_CONFIG', 0, message);
  }
}

/** --disk-cache names a directory another running process uses (its lock file says which). Start-up only. */
export class DiskCacheLockedError extends EdgeError {
  constructor(message: string) {
    super('E_DISK_CACHE_LOCKED', 0, message);
  }
}

/** The request path cannot name an asset: malformed, hostile or not content-hashed. */
export class RequestPathError extends EdgeError {
  constructor(code: 'E_BAD_PATH' | 'E_TRAVERSAL' | 'E_DOTFILE' | 'E_URI_TOO_LONG' | 'E_NOT_HASHED', message: string) {
    const status = code === 'E_URI_TOO_LONG' ? 414 : code === 'E_DOTFILE' || code === 'E_NOT_HASHED' ? 404 : 400;
    super(code, status, message);
  }
}

export class NotFoundError extends EdgeError {
  constructor(message = 'No such asset at the origin.') {
    super('E_NOT_FOUND', 404, message);
  }
}

export class MethodNotAllowedError extends EdgeError {
  constructor(method: string) {
    super('E_METHOD_NOT_ALLOWED', 405, `Method ${JSON.stringify(method.slice(0, 32))} is not allowed here; use GET, HEAD or OPTIONS.`);
  }
}

export class UnauthorizedError extends EdgeError {
  constructor(message = 'Missing or wrong bearer token.') {
    super('E_UNAUTHORIZED', 401, message);
  }
}

/** The origin failed: unreachable, 5xx, refused, or sent a body that does not match its length. */
export class OriginError extends EdgeError {
  constructor(code: 'E_ORIGIN' | 'E_ORIGIN_FORBIDDEN' | 'E_ORIGIN_TRUNCATED' | 'E_ORIGIN_INTEGRITY', message: string, cause?: unknown) {
    super(code, 502, message, { cause, expose: true });
  }
}

export class OriginTimeoutError extends EdgeError {
  constructor(timeoutMs: number) {
    super('E_ORIGIN_TIMEOUT', 504, `The origin did not answer within ${timeoutMs} ms.`, { expose: true });
  }
}

/** Any error as an EdgeError: unexpected ones become a 502 whose message hides the internals. */
export function asEdgeError(err: unknown): EdgeError {
  if (err instanceof EdgeError) return err;
  return new OriginError('E_ORIGIN', 'The origin request failed.', err);
}
