// The gateway's route matcher: Hono's SmartRouter once per first path segment ("/twinning", "/dm",
// "/oauth", ...) instead of once for all of the gateway's routes.
//
// Why: SmartRouter uses Hono's RegExpRouter (one precompiled regular expression, well under a
// microsecond per match) unless a route pattern is one it refuses, and then a TrieRouter for every
// route (about 5 µs per match over the gateway's ~450 routes and middleware, measured in Node). One
// such pair (`/dm/v2/devices/new` before `/dm/v2/devices/:devId`: a static segment where a parameter
// could also match) put every request of every API on the trie. Split by first segment, only that
// API's routes fall back to the trie.
//
// The answers are the same as one SmartRouter's: a route whose first segment is literal can only
// match paths with that first segment, so it is added to that segment's router alone; a route whose
// first segment is not literal (`*`, `/*`, `/:name`) is added to every router. Each router therefore
// holds every route that could match its paths, in registration order, and returns what one router
// over all routes would.
import type { Result, Router } from "hono/router";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";

const smartRouter = <T>(): Router<T> => new SmartRouter<T>({ routers: [new RegExpRouter<T>(), new TrieRouter<T>()] });

/** "/twinning/v1/x" -> "twinning"; "/" -> "". */
function firstSegment(path: string): string {
  const end = path.indexOf("/", 1);
  return end < 0 ? path.slice(1) : path.slice(1, end);
}

/** The literal first segment of a route pattern, or undefined when it is a parameter or wildcard. */
function literalFirstSegment(pattern: string): string | undefined {
  if (!pattern.startsWith("/")) return undefined;
  const segment = firstSegment(pattern);
  return /[:*{}?]/.test(segment) ? undefined : segment;
}

export class PrefixRouter<T> implements Router<T> {
  readonly name = "PrefixRouter";
  /** Routes whose first segment is not literal, in order: every segment's router starts with those added before it. */
  private readonly anySegment: [string, string, T][] = [];
  private readonly bySegment = new Map<string, Router<T>>();
  /** Paths whose first segment no route names literally. */
  private readonly rest: Router<T> = smartRouter<T>();

  add(method: string, path: string, handler: T): void {
    const segment = literalFirstSegment(path);
    if (segment === undefined) {
      this.anySegment.push([method, path, handler]);
      for (const router of this.bySegment.values()) router.add(method, path, handler);
      this.rest.add(method, path, handler);
      return;
    }
    let router = this.bySegment.get(segment);
    if (!router) {
      router = smartRouter<T>();
      for (const [m, p, h] of this.anySegment) router.add(m, p, h);
      this.bySegment.set(segment, router);
    }
    router.add(method, path, handler);
  }

  match(method: string, path: string): Result<T> {
    return (this.bySegment.get(firstSegment(path)) ?? this.rest).match(method, path);
  }
}
