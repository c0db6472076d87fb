/**
 * How the cache took part in an answer: one vocabulary for the group's lookups, the
 * Cache-Status header, the traffic counters, /metrics and the access log.
 *  - hit:       from this node's memory;
 *  - miss:      loaded from the origin by this node, and kept;
 *  - collapsed: joined a load already under way for the same key;
 *  - peer:      fetched from the key's owner node, kept here only once hot (Cache-Status then adds `stored`);
 *  - fallback:  the owner failed, so this node loaded it from the origin itself, and keeps it;
 *  - uncached:  larger than --max-object-size, streamed from the origin;
 *  - none:      refused before the cache (bad path, not immutable, method).
 */
export type Outcome = 'hit' | 'miss' | 'collapsed' | 'peer' | 'fallback' | 'uncached' | 'none';

/** Every outcome, in the order counters and tables list them. */
export const OUTCOMES: readonly Outcome[] = ['hit', 'miss', 'collapsed', 'peer', 'fallback', 'uncached', 'none'];

/** What a lookup of the group can answer. */
export type FetchStatus = Extract<Outcome, 'hit' | 'miss' | 'collapsed' | 'peer' | 'fallback'>;
