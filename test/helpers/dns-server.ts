/**
 * A real DNS server on a UDP port of 127.0.0.1 (dns2), answering A/AAAA queries from a table
 * the test edits: the stand-in for a Kubernetes headless Service's DNS name.
 */
import dns2 from 'dns2';

const { Packet } = dns2;

export class TestDnsServer {
  /** Records by lower-case name (no trailing dot). */
  readonly records = new Map<string, { a: string[]; aaaa: string[] }>();
  /** When set, every query is answered SERVFAIL (a DNS outage). */
  failing = false;
  queries = 0;
  readonly #server = dns2.createUDPServer((request, send) => {
    this.queries++;
    const response = Packet.createResponseFromRequest(request);
    const question = request.questions[0];
    const entry = question ? this.records.get(question.name.toLowerCase().replace(/\.$/, '')) : undefined;
    if (this.failing) {
      response.header.rcode = 2; // SERVFAIL
    } else if (question === undefined || entry === undefined) {
      response.header.rcode = 3; // NXDOMAIN
    } else {
      const v6 = question.type === Packet.TYPE.AAAA;
      if (v6 || question.type === Packet.TYPE.A) {
        for (const address of v6 ? entry.aaaa : entry.a) {
          response.answers.push(Packet.createResourceFromQuestion(question, { ttl: 1, address }));
        }
      }
    }
    send(response);
  });

  async start(): Promise<string> {
    await this.#server.listen(0, '127.0.0.1');
    const { port } = this.#server.address();
    return `127.0.0.1:${port}`;
  }

  set(name: string, a: string[], aaaa: string[] = []): void {
    this.records.set(name, { a, aaaa });
  }

  close(): void {
    this.#server.close();
  }
}
