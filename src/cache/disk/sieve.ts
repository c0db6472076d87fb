/**
 * The disk tier's index and eviction policy: SIEVE (Zhang et al., NSDI '24), with byte sizes.
 * New entries go in at the head of a FIFO queue; a hit only sets a bit; to make room a hand
 * walks from the tail towards the head, clearing set bits and evicting the first entry whose
 * bit is clear, and stays where it stopped. Scan-resistant like S3-FIFO with one queue and no
 * ghost list, and a hit is a bit set, not a list move (a disk hit must not cost a reorder).
 * bench/disk-policy.ts measures it against LRU on the bench's Zipf workload (bench/RESULTS.md).
 * Hand-written: lru-cache is LRU only, and no kept npm package implements SIEVE with sizes.
 */

interface Node<V> {
  readonly id: string;
  value: V;
  bytes: number;
  visited: boolean;
  /** Towards the head (newer). */
  newer: Node<V> | undefined;
  /** Towards the tail (older). */
  older: Node<V> | undefined;
}

export class Sieve<V> {
  readonly #nodes = new Map<string, Node<V>>();
  #head: Node<V> | undefined;
  #tail: Node<V> | undefined;
  #hand: Node<V> | undefined;
  #bytes = 0;

  get bytes(): number {
    return this.#bytes;
  }

  get size(): number {
    return this.#nodes.size;
  }

  has(id: string): boolean {
    return this.#nodes.has(id);
  }

  /** The entry's value, marked as visited (it survives the hand's next pass). */
  get(id: string): V | undefined {
    const node = this.#nodes.get(id);
    if (node === undefined) return undefined;
    node.visited = true;
    return node.value;
  }

  /** The entry's value without marking it. */
  peek(id: string): V | undefined {
    return this.#nodes.get(id)?.value;
  }

  /** Adds (at the head, not visited) or replaces an entry's value and size in place. */
  set(id: string, value: V, bytes: number): void {
    const node = this.#nodes.get(id);
    if (node !== undefined) {
      this.#bytes += bytes - node.bytes;
      node.value = value;
      node.bytes = bytes;
      return;
    }
    const added: Node<V> = { id, value, bytes, visited: false, newer: undefined, older: this.#head };
    if (this.#head !== undefined) this.#head.newer = added;
    this.#head = added;
    this.#tail ??= added;
    this.#nodes.set(id, added);
    this.#bytes += bytes;
  }

  delete(id: string): boolean {
    const node = this.#nodes.get(id);
    if (node === undefined) return false;
    if (this.#hand === node) this.#hand = node.newer;
    if (node.newer !== undefined) node.newer.older = node.older;
    else this.#head = node.older;
    if (node.older !== undefined) node.older.newer = node.newer;
    else this.#tail = node.newer;
    this.#nodes.delete(id);
    this.#bytes -= node.bytes;
    return true;
  }

  /** Removes and returns the entry SIEVE evicts next; undefined when empty. */
  evict(): { id: string; value: V; bytes: number } | undefined {
    let node = this.#hand ?? this.#tail;
    while (node !== undefined && node.visited) {
      node.visited = false;
      node = node.newer ?? this.#tail;
    }
    if (node === undefined) return undefined;
    this.#hand = node.newer;
    this.delete(node.id);
    return { id: node.id, value: node.value, bytes: node.bytes };
  }

  ids(): IterableIterator<string> {
    return this.#nodes.keys();
  }

  *entries(): IterableIterator<[string, V]> {
    for (const [id, node] of this.#nodes) yield [id, node.value];
  }
}
