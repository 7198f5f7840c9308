// A minimal keep-alive HTTP/1.1 client: one socket per simulated user, one request at a time, timed
// from write to last byte (connection setup excluded, like k6's http_req_duration). Bun's fetch pools
// sockets and caps concurrency, which would not model 4,500 users each holding a connection.
import net from "node:net";

export type Reply = { status: number; body: string; ms: number };

const HEADER_END = Buffer.from("\r\n\r\n");

export class Conn {
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void; t0: number; timer: Timer } | null = null;
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on("data", (chunk: Buffer) => {
      this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
      this.parse();
    });
    sock.on("error", (e) => this.fail(e));
    sock.on("close", () => this.fail(new Error("connection closed")));
  }

  private fail(e: Error) {
    this.closed = true;
    const w = this.waiting;
    this.waiting = null;
    if (w) {
      clearTimeout(w.timer);
      w.reject(e);
    }
  }

  static connect(port: number, host = "127.0.0.1"): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, host);
      sock.once("connect", () => resolve(new Conn(sock)));
      sock.once("error", reject);
    });
  }

  request(method: string, path: string, auth: string, timeoutMs = 30_000): Promise<Reply> {
    if (this.closed) return Promise.reject(new Error("connection closed"));
    if (this.waiting) return Promise.reject(new Error("one request at a time"));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new Error("timeout"));
        this.sock.destroy();
      }, timeoutMs);
      this.waiting = { resolve, reject, t0: performance.now(), timer };
      this.sock.write(`${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${auth}\r\nContent-Length: 0\r\n\r\n`);
    });
  }

  private parse() {
    const end = this.buf.indexOf(HEADER_END);
    if (end < 0 || !this.waiting) return;
    const head = this.buf.subarray(0, end).toString("latin1");
    const status = Number(head.slice(9, 12));
    if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) return this.fail(new Error("chunked replies are not supported by this client"));
    const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buf.length < end + 4 + len) return;
    const body = this.buf.subarray(end + 4, end + 4 + len).toString("utf8");
    this.buf = this.buf.subarray(end + 4 + len);
    const w = this.waiting;
    this.waiting = null;
    clearTimeout(w.timer);
    w.resolve({ status, body, ms: performance.now() - w.t0 });
  }

  close() {
    this.closed = true;
    this.sock.destroy();
  }
}

/** Opens `n` connections, at most `parallel` handshakes at a time (a burst of SYNs would overflow the accept queue). */
export async function connectAll(port: number, n: number, parallel = 200): Promise<Conn[]> {
  const out: Conn[] = [];
  for (let i = 0; i < n; i += parallel) out.push(...(await Promise.all(Array.from({ length: Math.min(parallel, n - i) }, () => Conn.connect(port)))));
  return out;
}
