// The demo's page and form handlers. Each form post arrives here with its CSRF
// token verified (app.ts); it does its action, leaves a flash message saying
// what it did, and redirects to the page, which shows the message once.
import express from "express";
import type { Session, Sessions } from "../src/core/index.js";
import { ADMIN, BadInput, ENDED, field, MAX_DEVICES, session, untilCookie, type Data, type Ended } from "./http.js";
import type { View } from "./page.js";

const DAY = 24 * 3_600_000;
/** "Keep me signed in": a cookie that outlives the browser, and a session that lasts 30 days. */
const KEPT = { persistent: true, idleTimeout: 30 * DAY, absoluteTimeout: 30 * DAY };
/** Sensitive actions need a sign-in this recent, else the password again. DEMO_FRESH_MS shortens it for the browser test. */
const FRESH_MS = Number(process.env.DEMO_FRESH_MS ?? 5 * 60_000);
if (!(FRESH_MS > 0)) throw new TypeError(`DEMO_FRESH_MS must be a number of milliseconds, e.g. 300000 (got ${process.env.DEMO_FRESH_MS})`);
/** The demo has no real passwords: every user's is this one, shown on the prompt. */
export const DEMO_PASSWORD = "demo";

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
  const action =
    (fn: (req: express.Request, res: express.Response, s: Session<Data>) => Promise<string>) => async (req: express.Request, res: express.Response) => {
      const s = session(req);
      const notice = await fn(req, res, s);
      s.flash("notice", notice);
      res.redirect(303, "/");
    };
  const signedIn = (s: Session<Data>): string => {
    if (!s.userId) throw new BadInput(401, "Log in first.");
    return s.userId;
  };
  /**
   * A sensitive action goes ahead when the user signed in recently, or has
   * just re-entered the password (the session is then reauthenticated: a new
   * token, a fresh sign-in time). Otherwise the page asks for the password,
   * carrying the action's `fields`, and this resolves false.
   */
  const confirmed = async (
    req: express.Request,
    res: express.Response,
    s: Session<Data>,
    label: string,
    fields: Record<string, string> = {},
  ): Promise<boolean> => {
    if (s.isFresh(FRESH_MS)) return true;
    const password = field(req, "password", "the password", 100);
    if (password === DEMO_PASSWORD) {
      await s.reauthenticate();
      return true;
    }
    const confirm = {
      action: req.path,
      label,
      fields,
      within: FRESH_MS % 60_000 === 0 ? `${FRESH_MS / 60_000} minutes` : `${FRESH_MS / 1000} seconds`,
      password: DEMO_PASSWORD,
    };
    const error = password === "" ? undefined : `That is not the password; in this demo it is “${DEMO_PASSWORD}”.`;
    await send(req, res, error ? 403 : 200, { confirm, error });
    return false;
  };

  router.post(
    "/login",
    action(async (req, res, s) => {
      const name = field(req, "name", "a name", 40);
      if (!name) throw new BadInput(400, "Enter a name to log in.");
      const kept = field(req, "remember", "“Keep me signed in”", 10) !== "";
      // Only to say so: the limit itself is applied by latchkey, in the login's own atomic step.
      const others = (await sessions.list(name)).filter((info) => info.handle !== s.handle).length;
      await s.login(name, kept ? KEPT : { persistent: false });
      res.append("Set-Cookie", untilCookie(s.expiresAt));
      if (others >= MAX_DEVICES) s.flash("notice", `At most ${MAX_DEVICES} devices stay signed in: the one used longest ago was signed out.`);
      return kept ? "Signed in on this device for 30 days." : "Signed in on this device until you close the browser.";
    }),
  );
  router.post(
    "/note",
    action(async (req, _res, s) => {
      s.set("note", field(req, "note", "the value", 200));
      return "Saved.";
    }),
  );
  router.post(
    "/logout",
    action(async (_req, res, s) => {
      await s.logout();
      res.append("Set-Cookie", untilCookie(null));
      return "Signed out on this device.";
    }),
  );
  router.post(
    "/logout-others",
    action(async (_req, _res, s) => {
      signedIn(s);
      const ended = await s.logoutOthers();
      return ended === 0 ? "There were no other sessions to end." : `Ended ${ended} other session${ended === 1 ? "" : "s"}.`;
    }),
  );
  router.post("/logout-everywhere", async (req, res) => {
    const s = session(req);
    signedIn(s);
    if (await confirmed(req, res, s, "Log out everywhere")) await action(logOutEverywhere)(req, res);
  });
  const logOutEverywhere = async (_req: express.Request, res: express.Response, s: Session<Data>) => {
    const ended = await sessions.revokeUser(signedIn(s));
    await s.logout(); // already ended by the revoke; this clears the cookie
    res.append("Set-Cookie", untilCookie(null));
    return `Signed out everywhere: ended ${ended} session${ended === 1 ? "" : "s"}, this one included.`;
  };
  router.post(
    "/revoke",
    action(async (req, res, s) => {
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
    }),
  );
  router.post("/view-as", async (req, res) => {
    const s = session(req);
    if (signedIn(s) !== ADMIN || s.impersonator) throw new BadInput(403, `Only the user named “${ADMIN}” can view as another user.`);
    const name = field(req, "name", "a name", 40);
    if (!name) throw new BadInput(400, "Enter the name of the user to view as.");
    if (name === ADMIN) throw new BadInput(400, "That is you: enter another user's name.");
    if (!(await confirmed(req, res, s, "View as", { name }))) return;
    await action(async () => {
      await s.impersonate(name);
      return `Now viewing as ${name}. Press Stop to be ${ADMIN} again.`;
    })(req, res);
  });
  router.post(
    "/stop-viewing",
    action(async (_req, _res, s) => {
      const admin = s.impersonator;
      if (!admin) return "You were not viewing as anyone.";
      await s.stopImpersonating();
      return `Stopped viewing as another user: you are ${admin} again.`;
    }),
  );
  return router;
}
