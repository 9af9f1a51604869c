// Koa 2, installed as the dev dependency "koa2" (npm:koa@^2), typed as Koa: the API latchkey uses is the same.
declare module "koa2" {
  import Koa from "koa";
  export default Koa;
}
