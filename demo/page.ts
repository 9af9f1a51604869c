import type { SessionInfo } from "../src/core/index.js";

const escape = (value: string) =>
  value.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
const time = (ms: number) => new Date(ms).toISOString().replace("T", " ").slice(0, 19) + " UTC";

export function page(view: { worker: string; userId: string | null; note: string; handle: string | null; sessions: SessionInfo[] }): string {
  const rows = view.sessions
    .map(
      (s) => `<tr><td><code>${escape(s.handle.slice(0, 12))}…</code>${s.handle === view.handle ? " <b>(this browser)</b>" : ""}</td>
        <td>${time(s.createdAt)}</td><td>${time(s.lastSeenAt)}</td><td>${time(s.expiresAt)}</td>
        <td><form method="post" action="/revoke"><input type="hidden" name="handle" value="${escape(s.handle)}"><button>Revoke</button></form></td></tr>`,
    )
    .join("");
  const body = view.userId
    ? `<p>Signed in as <b>${escape(view.userId)}</b>.</p>
       <form method="post" action="/note"><label>A value kept in your session: <input name="note" value="${escape(view.note)}"></label> <button>Save</button></form>
       <p><form method="post" action="/logout" style="display:inline"><button>Log out</button></form>
          <form method="post" action="/logout-everywhere" style="display:inline"><button>Log out everywhere</button></form></p>
       <h2>Your sessions</h2>
       <table border="1" cellpadding="4"><tr><th>Handle</th><th>Created</th><th>Last seen</th><th>Expires</th><th></th></tr>${rows}</table>`
    : `<form method="post" action="/login"><label>Your name: <input name="name" autofocus required maxlength="40"></label> <button>Log in</button></form>
       <form method="post" action="/note"><label>A value (works signed out too): <input name="note" value="${escape(view.note)}"></label> <button>Save</button></form>`;
  return `<!doctype html><html><head><meta charset="utf-8"><title>latchkey demo</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto">
<h1>latchkey demo</h1>
<p>This page was answered by <b>${escape(view.worker)}</b>. Reload: both workers share one SQLite file.</p>
${body}
</body></html>`;
}
