// A browser-like cookie jar that keeps every cookie by name (the migration
// tests need the old library's cookie and latchkey's side by side).

export interface JarResponse {
  status: number;
  body: any;
  setCookies: string[];
}

export class CookieJar {
  readonly cookies = new Map<string, string>();

  constructor(initial: Record<string, string> = {}) {
    for (const [name, value] of Object.entries(initial)) this.cookies.set(name, value);
  }

  get header(): string {
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join("; ");
  }

  /** Applies Set-Cookie lines as a browser would: an empty value or Max-Age=0 deletes. */
  absorb(lines: string[]): void {
    for (const line of lines) {
      const pair = line.split(";")[0]!;
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === "" || /;\s*Max-Age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(method: string, url: string): Promise<JarResponse> {
    const response = await fetch(url, { method, headers: this.cookies.size > 0 ? { cookie: this.header } : {}, redirect: "manual" });
    const setCookies = response.headers.getSetCookie();
    this.absorb(setCookies);
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: response.status, body, setCookies };
  }

  get(url: string): Promise<JarResponse> {
    return this.request("GET", url);
  }

  post(url: string): Promise<JarResponse> {
    return this.request("POST", url);
  }

  copy(): CookieJar {
    return new CookieJar(Object.fromEntries(this.cookies));
  }
}
