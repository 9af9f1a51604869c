// The anchor: express-session + connect-redis, configured as their READMEs advise.
// Plain JS so express-session's global typings never meet latchkey's.
import { RedisStore } from "connect-redis";
import session from "express-session";
import { createClient } from "redis";

export async function anchorMiddleware(url, prefix) {
  const client = createClient({ url });
  await client.connect();
  const store = new RedisStore({ client, prefix });
  const middleware = session({ store, resave: false, saveUninitialized: false, secret: "keyboard cat" });
  const adapter = {
    login: (req, user) =>
      new Promise((resolve, reject) => req.session.regenerate((error) => (error ? reject(error) : ((req.session.userId = user), resolve())))),
    userId: (req) => req.session.userId ?? null,
    close: () => client.quit(),
  };
  return { middleware, adapter };
}
