// The demo's one page, as a string. Everything that came from a user (names,
// notes, user agents) goes through escape(); nothing else is interpolated.
import type { SessionInfo } from "../src/core/index.js";

export interface View {
  /** Which worker rendered this response (rendered per response, so keep-alive cannot hide a switch). */
  worker: string;
  userId: string | null;
  note: string;
  /** This request's session handle, to mark "this device". */
  handle: string | null;
  sessions: SessionInfo[];
  /**
   * The session's CSRF token, sent back in a hidden `_csrf` field of every
   * form. null renders a bare page (the sentence and a link, no forms): the
   * answer to a post whose session could not be trusted.
   */
  csrf: string | null;
  /** While an admin views as `userId`: the admin's name (a banner with Stop). */
  impersonator?: string | null;
  /** The signed-in user may view as another user (in this demo: the user named "admin"). */
  admin?: boolean;
  /** At most this many devices stay signed in per user. */
  maxDevices?: number;
  /** A sensitive action waiting for the password: its prompt takes the page's place. */
  confirm?: Confirm;
  /** What the last actions did (flash messages), or why this device is signed out: each shown once. */
  notices?: string[];
  /** Why this request was refused (4xx): shown in place of a notice. */
  error?: string;
  now: number;
}

/** A password prompt before a sensitive action (the user signed in too long ago). */
export interface Confirm {
  /** Where the form posts: the action itself, which reauthenticates first. */
  action: string;
  /** The button, naming the action ("Log out everywhere"). */
  label: string;
  /** The action's own fields, carried through the prompt. */
  fields: Record<string, string>;
  /** How long ago counts as recent, in words ("5 minutes"). */
  within: string;
  /** The demo's fixed password, shown on the page (the demo has no real passwords). */
  password: string;
}

export const escape = (value: string) => value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);

const relative = new Intl.RelativeTimeFormat("en", { numeric: "auto" });
const STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["day", 86_400_000],
  ["hour", 3_600_000],
  ["minute", 60_000],
];

/**
 * "just now", "2 minutes ago", "in 3 hours".
 * @example
 * ago(Date.now() - 120_000, Date.now()); // "2 minutes ago"
 */
export function ago(at: number, now: number): string {
  const delta = at - now;
  if (Math.abs(delta) < 60_000) return "just now";
  for (const [unit, ms] of STEPS) {
    if (Math.abs(delta) >= ms) return relative.format(Math.round(delta / ms), unit);
  }
  return "just now";
}

/** A form posting to `action`, with the session's CSRF token in its hidden `_csrf` field. */
function form(view: View, action: string, body: string, className?: string): string {
  return `<form method="post" action="${action}"${className ? ` class="${className}"` : ""}><input type="hidden" name="_csrf" value="${escape(view.csrf ?? "")}">${body}</form>`;
}

function sessionItem(s: SessionInfo, view: View): string {
  const mine = s.handle === view.handle;
  const revoke = mine
    ? `<span class="badge">This device</span>`
    : form(view, "/revoke", `<input type="hidden" name="handle" value="${escape(s.handle)}"><button class="small">Sign out</button>`);
  return `<li class="device${mine ? " mine" : ""}" data-handle="${escape(s.handle)}">
  <div><b class="label">${escape(s.device)}</b>
    <div class="meta">Last active <span class="last-active">${ago(s.lastSeenAt, view.now)}</span> · signed in ${ago(s.createdAt, view.now)} · <span class="lifetime">${s.persistent ? "kept signed in" : "until the browser closes"}</span>${s.impersonator ? ` · <b>${escape(s.impersonator)} viewing as ${escape(s.userId)}</b>` : ""}</div></div>
  ${revoke}
</li>`;
}

function signedIn(view: View): string {
  const ordered = [...view.sessions].sort((a, b) => Number(b.handle === view.handle) - Number(a.handle === view.handle) || b.lastSeenAt - a.lastSeenAt);
  const others = ordered.length - 1;
  return `<p>Signed in as <b id="user">${escape(view.userId!)}</b>. <span id="live" class="live" data-state="connecting" role="status">Signed in</span></p>
<section>
  <h2>Your devices</h2>${
    view.maxDevices
      ? `
  <p class="meta limit">At most ${view.maxDevices} stay signed in: signing in on another signs out the one used longest ago.</p>`
      : ""
  }
  <ul class="devices">${ordered.map((s) => sessionItem(s, view)).join("")}</ul>
  <div class="actions">
    ${form(view, "/logout-others", `<button${others > 0 ? "" : " disabled"}>Log out other devices</button>`)}
    ${form(view, "/logout", `<button class="secondary">Log out</button>`)}
    ${form(view, "/logout-everywhere", `<button class="secondary">Log out everywhere</button>`)}
  </div>
</section>
<section>
  <h2>Your session</h2>
  ${form(
    view,
    "/note",
    `<label for="note">A value kept in your session</label>
    <input id="note" name="note" maxlength="200" value="${escape(view.note)}"><button>Save</button>`,
    "row",
  )}
</section>${view.admin && !view.impersonator ? support(view) : ""}`;
}

function support(view: View): string {
  return `
<section>
  <h2>Support</h2>
  ${form(
    view,
    "/view-as",
    `<label for="view-as">View the demo as another user (you can stop at any time)</label>
    <input id="view-as" name="name" maxlength="40" required placeholder="e.g. bob"><button>View as</button>`,
    "row",
  )}
</section>`;
}

function prompt(view: View, confirm: Confirm): string {
  const fields = Object.entries(confirm.fields)
    .map(([name, value]) => `<input type="hidden" name="${escape(name)}" value="${escape(value)}">`)
    .join("");
  return `<section class="confirm">
  <h2>Confirm it is you</h2>
  <p>You signed in more than ${escape(confirm.within)} ago. Enter your password to continue.</p>
  <p class="meta">This demo has no real passwords: the password is <b id="demo-password">${escape(confirm.password)}</b>.</p>
  ${form(
    view,
    confirm.action,
    `${fields}<label for="password">Password for ${escape(view.userId!)}</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required><button>${escape(confirm.label)}</button>`,
    "row",
  )}
  <p><a href="/">Cancel</a></p>
</section>`;
}

function signedOut(view: View): string {
  return `${form(
    view,
    "/login",
    `<label for="name">Your name</label>
  <input id="name" name="name" autocomplete="username" required maxlength="40"><button>Log in</button>
  <label class="check"><input type="checkbox" name="remember" value="yes"> Keep me signed in (30 days; otherwise until the browser closes)</label>`,
    "row",
  )}
<p class="meta">Log in with the same name in another browser (or a private window) to see two devices. Log in as <b>admin</b> to view as another user.</p>
<section>
  <h2>Without signing in</h2>
  ${form(
    view,
    "/note",
    `<label for="note">A value (works signed out too)</label>
    <input id="note" name="note" maxlength="200" value="${escape(view.note)}"><button>Save</button>`,
    "row",
  )}
</section>`;
}

const STYLE = `
*{box-sizing:border-box}
body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;padding:1rem;max-width:42rem;color:#1d1d1f;overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.2rem 0}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}
.worker{font-size:.85rem;color:#555;margin:0 0 1rem}
.notice,.error{padding:.6rem .8rem;border-radius:.4rem;margin:0 0 1rem}
.notice{background:#e8f4ea;border:1px solid #9ccaa5}.error{background:#fdecea;border:1px solid #e4a29b}
.row{display:flex;flex-wrap:wrap;gap:.5rem;align-items:center}.row label{flex-basis:100%}
.row input{flex:1 1 12rem;min-width:0}
input,button{font:inherit;padding:.45rem .7rem;border-radius:.35rem;border:1px solid #999}
button{background:#1f5fbf;color:#fff;border-color:#1f5fbf;cursor:pointer}
button.secondary{background:#fff;color:#1f5fbf}button.small{padding:.25rem .6rem;font-size:.9rem;white-space:nowrap}
button:disabled{opacity:.5;cursor:default}
.devices{list-style:none;padding:0;margin:0}
.device{display:flex;justify-content:space-between;align-items:center;gap:.6rem;padding:.6rem 0;border-bottom:1px solid #ddd}
.device .label{overflow-wrap:anywhere}
.meta{font-size:.85rem;color:#555}
.badge{font-size:.8rem;background:#1f5fbf;color:#fff;border-radius:1rem;padding:.1rem .6rem;white-space:nowrap}
.live{font-size:.8rem;border-radius:1rem;padding:.1rem .6rem;white-space:nowrap;border:1px solid #9ccaa5;background:#e8f4ea}
.live[data-state=ended]{border-color:#e4a29b;background:#fdecea}
.row label.check{flex-basis:100%;display:flex;gap:.5rem;align-items:center;font-size:.95rem}.row .check input{flex:none;margin:0}
.limit{margin:-.3rem 0 .3rem}
.impersonating{display:flex;flex-wrap:wrap;gap:.6rem;align-items:center;padding:.6rem .8rem;border-radius:.4rem;margin:0 0 1rem;background:#fff4d6;border:1px solid #e0b94f}
.confirm{border:1px solid #ddd;border-radius:.4rem;padding:0 .8rem .4rem}
.actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.8rem}
@media (max-width:30rem){.actions form,.actions button{width:100%}}
`;

/** The live badge: a WebSocket the server closes with 4401 "session ended: <reason>" when this session ends anywhere. */
const LIVE_SCRIPT = `<script>
(() => {
  const badge = document.getElementById("live");
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live");
  ws.onopen = () => { badge.textContent = "\u25cf Signed in (live)"; badge.dataset.state = "live"; };
  ws.onclose = (event) => {
    if (event.code !== 4401) { badge.textContent = "Signed in"; badge.dataset.state = "offline"; return; }
    const reason = event.reason.replace("session ended: ", "");
    badge.textContent = reason === "expired" ? "Signed out: the session expired" : reason === "rotated" ? "Signed in again elsewhere: reload" : "Signed out from another device";
    badge.dataset.state = "ended";
  };
})();
</script>`;

/**
 * The whole page: which worker answered, what just happened, then the sign-in
 * form or this user's devices.
 * @example
 * res.type("html").send(page({ worker: "worker 1", userId: null, note: "", handle: null, sessions: [], csrf: req.session.csrfToken, now: Date.now() }));
 */
export function page(view: View): string {
  const banner = view.error
    ? `<p class="error" role="alert">${escape(view.error)}</p>`
    : (view.notices ?? []).map((notice) => `<p class="notice" role="status">${escape(notice)}</p>`).join("");
  const body =
    view.csrf === null
      ? `<p><a href="/">Back to the page</a></p>`
      : !view.userId
        ? signedOut(view)
        : view.confirm
          ? prompt(view, view.confirm)
          : signedIn(view) + LIVE_SCRIPT;
  const viewing =
    view.impersonator && view.userId && view.csrf !== null
      ? `<div class="impersonating" role="status"><span>Viewing as <b>${escape(view.userId)}</b> <span class="meta">(you are ${escape(view.impersonator)})</span> —</span>${form(view, "/stop-viewing", `<button class="small">Stop</button>`)}</div>`
      : "";
  return `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>latchkey demo</title><style>${STYLE}</style></head>
<body>
<h1>latchkey demo</h1>
<p class="worker">Answered by <b id="worker">${escape(view.worker)}</b>. Two workers share one SQLite file; reload to see either.</p>
${viewing}${banner}
${body}
</body></html>`;
}
