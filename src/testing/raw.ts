// Sends raw HTTP/1.1 bytes, for headers fetch() refuses to send (non-ASCII, control characters).
import { request } from "node:http";
import { connect } from "node:net";

export function rawRequest(port: number, head: Buffer | string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("end", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
    });
    socket.end(head);
  });
}

/** A request through node:http, which (unlike fetch()) sends the Host header it is given: a public host name on a loopback server. */
export function hostRequest(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; setCookie: string[]; cacheControl: string | undefined; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
        const cacheControl = res.headers["cache-control"];
        resolve({ status: res.statusCode ?? 0, setCookie: res.headers["set-cookie"] ?? [], cacheControl, body });
      });
    });
    req.on("error", reject);
    req.end();
  });
}
