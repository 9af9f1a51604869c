// node bench/headers.mjs — what building IncomingMessage.headers costs (Node builds it only when something
// reads it, since Node 15): CPU ns per request for a request like autocannon's and like a browser's. A
// session layer that reads `req.headers.cookie` pays it for an app that never reads another header.
import { IncomingMessage } from "node:http";
import { Socket } from "node:net";

const token = `sid=${"x".repeat(48)}`;
const sets = {
  "autocannon-like (3 headers)": ["Host", "127.0.0.1:3000", "Connection", "keep-alive", "cookie", token],
  "browser-like (14 headers)": [
    ...["Host", "example.com", "Connection", "keep-alive", "sec-ch-ua", '"Chromium";v="131"', "sec-ch-ua-mobile", "?0"],
    ...["sec-ch-ua-platform", '"Linux"', "Upgrade-Insecure-Requests", "1"],
    ...["User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"],
    ...["Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Sec-Fetch-Site", "same-origin"],
    ...["Sec-Fetch-Mode", "navigate", "Sec-Fetch-Dest", "document", "Referer", "https://example.com/"],
    ...["Accept-Encoding", "gzip, deflate, br", "Accept-Language", "en-US,en;q=0.9", "Cookie", token],
  ],
};
const socket = new Socket();
// Node's count of raw header entries, which the parser sets and the lazy getter reads.
const kHeadersCount = Object.getOwnPropertySymbols(new IncomingMessage(socket)).find((s) => s.description === "kHeadersCount");
if (!kHeadersCount) throw new Error("this Node builds IncomingMessage.headers some other way");
console.log("| request | ns to build req.headers |\n|---|---:|");
for (const [name, raw] of Object.entries(sets)) {
  const n = 200_000;
  let cpu = 0;
  for (let round = 0; round < n / 1000; round++) {
    const fresh = Array.from({ length: 1000 }, () => {
      const req = new IncomingMessage(socket);
      req.rawHeaders = raw.slice();
      req[kHeadersCount] = raw.length;
      return req;
    });
    const before = process.cpuUsage();
    for (const req of fresh) void req.headers.cookie;
    const used = process.cpuUsage(before);
    cpu += used.user + used.system;
  }
  console.log(`| ${name} | ${((cpu / n) * 1000).toFixed(0)} |`);
}
