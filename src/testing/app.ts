// The Express app most tests drive: the framework-neutral test routes
// (routes.ts) behind expressSessions. Routes use query strings only, so no
// body parser is involved.
import { Readable } from "node:stream";
import type { Express, Request } from "express";
import type { Session, Sessions } from "../core/index.js";
import { expressSessions, type ExpressSessionsOptions } from "../adapters/express/index.js";
import { runRoute, testRoutes, type Route } from "./routes.js";

type ExpressFactory = () => Express;

export function buildApp(express: ExpressFactory, sessions: Sessions, options: ExpressSessionsOptions = {}): Express {
  const app = express();
  app.set("trust proxy", "loopback");
  // When the request reached this process, on CLOCK_MONOTONIC: the same clock in
  // every process of the machine, so tests can order events across processes.
  app.use((req, _res, next) => {
    (req as Request & { arrivedAt?: bigint }).arrivedAt = process.hrtime.bigint();
    next();
  });
  app.use(expressSessions(sessions, options));
  const routes = testRoutes(sessions);
  app.use((req, res, next) => {
    const parsed = new URL(req.originalUrl, "http://x");
    const found = match(routes, req.method, parsed.pathname);
    if (!found) return next();
    const input = {
      session: req.session as Session,
      param: found.param,
      query: parsed.searchParams,
      arrivedAt: (req as Request & { arrivedAt?: bigint }).arrivedAt!,
    };
    runRoute(found.route, input)
      .then((outcome) => {
        if (outcome.kind === "json") {
          if (outcome.setCookie) res.append("set-cookie", outcome.setCookie);
          if (outcome.cacheControl) res.set("cache-control", outcome.cacheControl);
          res.status(outcome.status).json(outcome.body);
        } else if (outcome.kind === "stream") {
          Readable.from(outcome.chunks).pipe(res.type("text/plain"));
        } else if (outcome.kind === "then") {
          res.type("text/plain").send(outcome.text);
          outcome.after();
        } else {
          res.writeHead(200, { "content-type": "text/plain" });
          for (const chunk of outcome.chunks.slice(0, -1)) res.write(chunk);
          res.end(outcome.chunks.at(-1));
        }
      })
      .catch(next);
  });
  return app;
}

/** The route and its parameter for a method and path, or undefined. */
export function match(routes: Route[], method: string | undefined, pathname: string): { route: Route; param: string } | undefined {
  for (const route of routes) {
    if (route.method !== method) continue;
    const colon = route.path.indexOf("/:");
    if (colon < 0 ? pathname === route.path : pathname.startsWith(route.path.slice(0, colon + 1)) && pathname.length > colon + 1) {
      return { route, param: colon < 0 ? "" : decodeURIComponent(pathname.slice(colon + 1)) };
    }
  }
  return undefined;
}
