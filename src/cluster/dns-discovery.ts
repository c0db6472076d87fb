/**
 * Cluster members from DNS: one A/AAAA record per node under one name (a Kubernetes headless
 * Service, a Consul or Route 53 name), all on the same port. Each resolution gives the member
 * URLs `http://<address>:<port>`, sorted, so every node derives the same ring from the same
 * answer.
 */
import { Resolver } from 'node:dns/promises';
import { workerMembers } from './members.js';

export interface DnsDiscoveryOptions {
  readonly name: string;
  readonly port: number;
  /** `ip` or `ip:port` of DNS servers to ask; empty: the system's (/etc/resolv.conf). */
  readonly servers: readonly string[];
  /** ms one query may take (c-ares retries once within it). @default 2000 */
  readonly timeoutMs?: number;
  /** Workers per node (--workers): each address stands for that many members. @default 1 */
  readonly workers?: number;
}

/** DNS answered that the name has no records: the cluster is this node alone for now. */
const NO_RECORDS = new Set(['ENOTFOUND', 'ENODATA']);

export class DnsDiscovery {
  readonly #options: DnsDiscoveryOptions;
  readonly #resolver: Resolver;

  constructor(options: DnsDiscoveryOptions) {
    this.#options = options;
    this.#resolver = new Resolver({ timeout: Math.ceil((options.timeoutMs ?? 2000) / 2), tries: 2 });
    if (options.servers.length > 0) this.#resolver.setServers([...options.servers]);
  }

  get description(): string {
    return `${this.#options.name}:${this.#options.port}`;
  }

  /**
   * The member URLs the name resolves to now. Rejects when DNS could not answer (timeout,
   * SERVFAIL, refused): the caller keeps the members it had rather than shrinking the ring.
   */
  async resolve(): Promise<string[]> {
    const { name, port } = this.#options;
    const [v4, v6] = await Promise.all([this.#query(() => this.#resolver.resolve4(name)), this.#query(() => this.#resolver.resolve6(name))]);
    if (v4 === undefined && v6 === undefined) return [];
    const nodes = [...(v4 ?? []).map((a) => `http://${a}:${port}`), ...(v6 ?? []).map((a) => `http://[${a}]:${port}`)];
    return nodes.flatMap((node) => workerMembers(node, this.#options.workers ?? 1)).sort();
  }

  /** The addresses, or undefined when the name has no such records. */
  async #query(run: () => Promise<string[]>): Promise<string[] | undefined> {
    try {
      return await run();
    } catch (err) {
      if (NO_RECORDS.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
      throw err;
    }
  }

  close(): void {
    this.#resolver.cancel();
  }
}
