/**
 * What the group needs of the cluster, after groupcache's peers.go: the PeerPicker interface
 * (whom to ask for a key, and how). cluster/peer-picker.ts implements it; tests pass fakes.
 */
import type { OriginObject } from '../origin/origin.js';

/**
 * Whom to ask for a key, and how. The group decides the route once per load and falls back
 * to the origin itself.
 */
export interface PeerPicker {
  /** The key's owner when it is another member that is up; undefined: this node loads it. */
  pickPeer(key: string): string | undefined;
  /**
   * The owner's copy (null: its origin has none). Rejects with an `E_PEER*` EdgeError when the
   * peer itself failed (the group then loads from the origin), or with the owner's origin
   * error (502/504 `E_ORIGIN*`), which the group answers as it is.
   */
  fetch(peer: string, key: string, options: { readonly signal: AbortSignal }): Promise<OriginObject | null>;
  /** A body the owner had started failed after its answer was accepted (cut short, or not the bytes its SHA-256 named). */
  failed(peer: string): void;
  /**
   * After a membership change, for a grace period: the key's owner on the previous ring, when
   * it is another member that is up (and not the current owner). Its copy saves an origin load.
   */
  previousOwner(key: string): string | undefined;
  /** The peer's copy only if it holds one (no load there); null: it holds none. */
  fetchCached(peer: string, key: string, options: { readonly signal: AbortSignal }): Promise<OriginObject | null>;
}

/** Whether err says the peer itself failed (not its origin). */
export function peerFailed(err: unknown): boolean {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('E_PEER');
}
