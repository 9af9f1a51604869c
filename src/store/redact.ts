// Credentials never reach an error message or a log line: store URLs and connection strings carry
// passwords (redis://default:S3cret@host, postgres://app:S3cret@db/app), and messages end up in logs,
// terminals and bug reports.

/** What a hidden credential is replaced with. */
const HIDDEN = "***";

/** A URL inside free text: a scheme, "://", then everything up to whitespace or a quote. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]+/gi;
/** password=… in a query string or a key=value connection string (libpq style). */
const PASSWORD_PARAMETER = /\b((?:sentinel_?|ssl)?pass(?:word|wd)?)=('[^']*'|[^&\s"';]*)/gi;

/**
 * `url` with its password hidden: the part between "://" and the last "@" keeps its user name and
 * loses what follows the first ":" (`redis://default:S3cret@host:6379` → `redis://default:***@host:6379`),
 * and `password=…` parameters become `password=***`. Works on strings that are not valid URLs too (a
 * password with an unencoded "@" or "/"), since those are the ones error messages quote.
 * @example
 * redactUrl("postgres://app:S3cret@db.internal/app?sslmode=require"); // "postgres://app:***@db.internal/app?sslmode=require"
 */
export function redactUrl(url: string): string {
  let redacted = url;
  const start = url.indexOf("://");
  const at = url.lastIndexOf("@");
  if (start !== -1 && at > start) {
    const userinfo = url.slice(start + 3, at);
    const colon = userinfo.indexOf(":");
    if (colon !== -1) redacted = `${url.slice(0, start + 3)}${userinfo.slice(0, colon)}:${HIDDEN}${url.slice(at)}`;
  }
  return redacted.replace(PASSWORD_PARAMETER, `$1=${HIDDEN}`);
}

/**
 * `text` (an error message, a log line) with the password of every URL in it hidden, as redactUrl
 * does, and every `password=…` parameter hidden.
 * @example
 * redactCredentials('cannot parse "redis://default:S3cret@cache:63x79"'); // 'cannot parse "redis://default:***@cache:63x79"'
 */
export function redactCredentials(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => redactUrl(url)).replace(PASSWORD_PARAMETER, `$1=${HIDDEN}`);
}
