// The demo's page and form handlers. Each form post arrives here with its CSRF
// token verified (app.ts); it does its action, leaves a flash message saying
// what it did, and redirects to the page, which shows the message once.
import express from "express";
import type { Session, Sessions } from "../src/core/index.js";
import { BadInput, ENDED, field, session, untilCookie, type Data, type Ended } from "./http.js";
import type { View } from "./page.js";

/** Renders the page with `status`; `bare` leaves out the session and every form. */
export type Send = (req: express.Request, res: express.Response, status: number, extra: Partial<View> & { bare?: boolean }) => Promise<void>;

/**
 * The page (GET /) and the form posts.
 * @example
 * app.use(routes(sessions, send));
 */
export function routes(sessions: Sessions<Data>, send: Send): express.Router {
  const router = express.Router();

  router.get("/", async (req, res) => {
    const s = session(req);
    // Where a post from a signed-out device was sent (app.ts): said once, as a flash message.
    const signedOut = req.query["signed-out"];
    if (typeof signedOut === "string" && Object.hasOwn(ENDED, signedOut)) {
      if (!s.userId) s.flash("notice", `${ENDED[signedOut as Ended]} Nothing was changed.`);
      return void res.redirect(303, "/");
    }
    const ended = res.locals.ended as Ended | undefined;
    const notices = ended ? [ENDED[ended]] : (s.flashes().notice ?? []).map(String);
    await send(req, res, 200, { notices });
  });

  /** A form post: do it, flash a sentence saying what it did, then redirect to the page. */
  const action = (fn: (req: express.Request, res: express.Response, s: Session<Data>) => Promise<string>) => async (req: express.Request, res: express.Response) => {
    const s = session(req);
    const notice = await fn(req, res, s);
    s.flash("notice", notice);
    res.redirect(303, "/");
  };
  const signedIn = (s: Session<Data>): string => {
    if (!s.userId) throw new BadInput(401, "Log in first.");
    return s.userId;
  };

  router.post("/login", action(async (req, res, s) => {
    const name = field(req, "name", "a name", 40);
    if (!name) throw new BadInput(400, "Enter a name to log in.");
    await s.login(name);
    res.append("Set-Cookie", untilCookie(s.expiresAt));
    return "Signed in on this device.";
  }));
  router.post("/note", action(async (req, _res, s) => {
    s.set("note", field(req, "note", "the value", 200));
    return "Saved.";
  }));
  router.post("/logout", action(async (_req, res, s) => {
    await s.logout();
    res.append("Set-Cookie", untilCookie(null));
    return "Signed out on this device.";
  }));
  router.post("/logout-others", action(async (_req, _res, s) => {
    signedIn(s);
    const ended = await s.logoutOthers();
    return ended === 0 ? "There were no other sessions to end." : `Ended ${ended} other session${ended === 1 ? "" : "s"}.`;
  }));
  router.post("/logout-everywhere", action(async (_req, res, s) => {
    const ended = await sessions.revokeUser(signedIn(s));
    await s.logout(); // already ended by the revoke; this clears the cookie
    res.append("Set-Cookie", untilCookie(null));
    return `Signed out everywhere: ended ${ended} session${ended === 1 ? "" : "s"}, this one included.`;
  }));
  router.post("/revoke", action(async (req, res, s) => {
    const userId = signedIn(s);
    const handle = field(req, "handle", "a handle", 100);
    // Only your own sessions: the handle must be in your list.
    const target = (await sessions.list(userId)).find((info) => info.handle === handle);
    if (!target) return "That session had already ended.";
    if (handle === s.handle) {
      await s.logout();
      res.append("Set-Cookie", untilCookie(null));
      return "Signed out on this device.";
    }
    await sessions.revoke(handle);
    return `Signed out ${target.device}.`;
  }));
  return router;
}
