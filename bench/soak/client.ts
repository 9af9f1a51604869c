// One soak client: a browser with one cookie, signed in as one user, sending
// a random mix of reads, overlapping writes, logouts (half of them while a
// slow write of the same session is in flight on another process), logins
// that rotate the token, and "log out everywhere" — recording everything in
// the shared History.
import type { History } from "./history.js";

export interface ClientOptions {
  servers: string[];
  history: History;
  random: () => number;
  /** Longest handler delay of an ordinary write, ms. */
  maxWriteDelayMs: number;
  /** The delay of the write left in flight during a logout, ms. */
  slowWriteMs: number;
  /** Whether the servers have a near-cache (reads elsewhere may lag a write by the propagation delay). */
  nearCache: boolean;
}

interface Answer {
  status: number;
  body: any;
  setCookie: string[];
  sentAt: bigint;
  answeredAt: bigint;
}

const now = () => process.hrtime.bigint();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const KEYS = ["a", "b"] as const;

export class SoakClient {
  readonly user: string;
  readonly #o: ClientOptions;
  #cookie: string | null = null;
  #handle: string | null = null;
  /** Per key: the highest value a write of this session was acknowledged with, and by which process. */
  #expected = new Map<string, { value: number; server: number }>();
  #counter = 0;

  constructor(user: string, options: ClientOptions) {
    this.user = user;
    this.#o = options;
  }

  async run(deadline: number): Promise<void> {
    while (Date.now() < deadline) {
      try {
        if (this.#handle === null) await this.#login();
        else await this.#step();
      } catch (error) {
        // A frozen or restarting server: the request failed at the socket. Nothing to judge.
        this.#o.history.count("network-error", 0);
        void error;
        await sleep(20);
      }
    }
  }

  async #step(): Promise<void> {
    const roll = this.#o.random();
    if (roll < 0.5) return this.#read(this.#server());
    if (roll < 0.82) return this.#writes();
    if (roll < 0.92) return this.#logout();
    if (roll < 0.96) return this.#login();
    return this.#revokeUser();
  }

  #server(): number {
    return Math.floor(this.#o.random() * this.#o.servers.length);
  }

  async #request(server: number, method: string, path: string, cookie: string | null): Promise<Answer> {
    const sentAt = now();
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.#o.servers[server] + path, {
        method,
        headers: cookie ? { cookie } : {},
        redirect: "manual",
        signal: AbortSignal.timeout(10_000),
      });
      text = await response.text();
    } catch (error) {
      if (error instanceof Error && error.name === "TimeoutError") this.#o.history.hung++;
      throw error;
    }
    const answeredAt = now();
    let body: any;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    this.#o.history.count(`${method} ${path.split(/[/?]/)[1]}`, response.status);
    return { status: response.status, body, setCookie: response.headers.getSetCookie(), sentAt, answeredAt };
  }

  /** Judges an answer given to this session's cookie: wrong user, acceptance after a revocation, lost writes. */
  #judge(answer: Answer, handle: string, expected: Map<string, { value: number; server: number }>, server: number, op: string): void {
    const body = answer.body;
    if (answer.status !== 200 || !body) return;
    if (body.userId !== null && body.userId !== undefined && body.userId !== this.user) {
      this.#o.history.wrongUser.push({ expected: this.user, saw: body.userId, server });
    }
    if (body.handle !== handle || body.userId !== this.user) return;
    this.#o.history.accepted(handle, this.user, BigInt(body.arrivedAt), server, op);
    for (const [key, { value, server: writer }] of expected) {
      const saw = typeof body.data?.[key] === "number" ? (body.data[key] as number) : null;
      if (saw !== null && saw >= value) continue;
      // Another process's near-cache may lag a write by the propagation delay (G3, bounded):
      // that is a stale read. The process that acknowledged the write must show it at once.
      if (writer === server || !this.#o.nearCache) this.#o.history.lostWrites.push({ handle, key, expected: value, saw, server });
      else this.#o.history.staleReads++;
    }
  }

  /** The session ended under us (revoked elsewhere): start over. */
  #ended(handle: string): void {
    if (this.#handle !== handle) return;
    this.#handle = null;
    this.#cookie = null;
    this.#expected = new Map();
  }

  async #read(server: number): Promise<void> {
    const handle = this.#handle!;
    const expected = new Map(this.#expected);
    const answer = await this.#request(server, "GET", "/whoami", this.#cookie);
    this.#judge(answer, handle, expected, server, "read");
    if (answer.status === 200 && answer.body?.userId === null) this.#ended(handle);
  }

  async #write(server: number, key: string, delay: number): Promise<void> {
    const handle = this.#handle!;
    const value = ++this.#counter;
    const expected = new Map(this.#expected);
    expected.delete(key); // this request changes it
    const answer = await this.#request(server, "POST", `/set/${key}?value=${value}&delay=${delay}`, this.#cookie);
    this.#judge(answer, handle, expected, server, "write");
    if (answer.status === 200 && answer.body?.handle === handle && this.#handle === handle) {
      if (value > (this.#expected.get(key)?.value ?? 0)) this.#expected.set(key, { value, server });
    } else if (answer.status === 401) {
      this.#ended(handle);
    }
  }

  /** One write, or two overlapping writes of different keys on different processes (G2). */
  async #writes(): Promise<void> {
    const delay = () => Math.floor(this.#o.random() * (this.#o.maxWriteDelayMs + 1));
    if (this.#o.random() < 0.5 || this.#o.servers.length < 2) return this.#write(this.#server(), KEYS[Math.floor(this.#o.random() * 2)]!, delay());
    const first = this.#server();
    const second = (first + 1) % this.#o.servers.length;
    await Promise.all([this.#write(first, "a", delay()), this.#write(second, "b", delay())]);
  }

  async #logout(): Promise<void> {
    const handle = this.#handle!;
    const cookie = this.#cookie;
    const server = this.#server();
    let slow: Promise<void> | null = null;
    if (this.#o.random() < 0.5 && this.#o.servers.length > 1) {
      // A slow write of the same session in flight on another process while it logs out.
      slow = this.#write((server + 1) % this.#o.servers.length, KEYS[Math.floor(this.#o.random() * 2)]!, this.#o.slowWriteMs);
      await sleep(2 + this.#o.random() * 8);
    }
    const answer = await this.#request(server, "POST", "/logout", cookie);
    if (answer.status === 200) {
      this.#o.history.died({ handle, user: this.user, deadAt: BigInt(answer.body.resolvedAt), how: "logout", server, slowWrite: slow !== null });
      if (cookie) this.#o.history.loggedOutNow({ cookie, handle, user: this.user });
      this.#ended(handle);
      // The dead token, at once, to every process.
      await Promise.all(
        this.#o.servers.map(async (_, i) => this.#judge(await this.#request(i, "GET", "/whoami", cookie), handle, new Map(), i, "after-logout")),
      );
    }
    await slow?.catch(() => undefined);
  }

  /** Signs in: from no session (a new one), or from the current one (the token rotates; data is kept). */
  async #login(): Promise<void> {
    const previous = this.#handle;
    const answer = await this.#request(this.#server(), "POST", `/login/${this.user}`, this.#cookie);
    if (answer.status !== 200 || !answer.body?.handle) {
      if (answer.status === 401 && previous) this.#ended(previous);
      return;
    }
    const cookie = answer.setCookie.map((line) => line.split(";")[0]!).find((pair) => pair.endsWith("=") === false);
    if (!cookie) return;
    if (previous && answer.body.handle !== previous) {
      this.#o.history.died({ handle: previous, user: this.user, deadAt: BigInt(answer.body.resolvedAt), how: "rotation" });
    }
    this.#o.history.logins.set(answer.body.handle, { user: this.user, answeredAt: answer.answeredAt });
    // A rotation of this session keeps its data; a session that had ended meanwhile starts empty.
    const kept = previous !== null && answer.body.data && Object.keys(answer.body.data).length > 0;
    if (!kept) this.#expected = new Map();
    this.#cookie = cookie;
    this.#handle = answer.body.handle as string;
  }

  async #revokeUser(): Promise<void> {
    const sentAt = now();
    const answer = await this.#request(this.#server(), "POST", `/revoke-user/${this.user}`, null);
    if (answer.status === 200) {
      this.#o.history.userRevocations.push({ user: this.user, sentAt, deadAt: BigInt(answer.body.resolvedAt) });
      if (this.#handle) this.#ended(this.#handle);
    }
  }
}
