// The admin API's listings (directory-object.ts): keeping an entry when an object is created or
// removed, and reading a page of them with a cursor.
import { z } from "@hono/zod-openapi";
import { base64url, fromBase64url } from "../http/crypto";
import { invalidInput } from "../http/errors";
import type { DirectoryEntry } from "./directory-object";

export type Listing = "subscribers" | "clients" | "devices" | `token-families:${string}`;

type DirectoryEnv = { DIRECTORY: Cloudflare.Env["DIRECTORY"] };

const directory = (env: DirectoryEnv, listing: Listing) => env.DIRECTORY.getByName(listing);

/** Puts `id` in `listing` (after the object was created). */
export const listed = (env: DirectoryEnv, listing: Listing, id: string, meta: Record<string, string> = {}) => directory(env, listing).add(id, meta);
/** Takes `id` out of `listing` (after the object was removed). */
export const unlisted = (env: DirectoryEnv, listing: Listing, id: string) => directory(env, listing).remove(id);

export const MAX_PAGE = 100;

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).default(50).openapi({ param: { name: "limit", in: "query" }, description: `At most ${MAX_PAGE}.`, example: 50 }),
  cursor: z.string().max(400).optional().openapi({ param: { name: "cursor", in: "query" }, description: "The `cursor` of the previous page." }),
  prefix: z.string().max(200).optional().openapi({ param: { name: "prefix", in: "query" }, description: "Only ids that start with this (find a subscriber by the start of its number).", example: "tel:+1555" }),
});

export const PageFields = { cursor: z.string().optional().openapi({ description: "Present when there may be more: pass it as `cursor` for the next page." }) };

const encodeCursor = (id: string) => base64url(new TextEncoder().encode(id));
function decodeCursor(cursor: string): string {
  const bytes = fromBase64url(cursor);
  if (!bytes) throw invalidInput("cursor", "the cursor of a previous page");
  return new TextDecoder().decode(bytes);
}

/** One page of `listing`: its entries and the cursor of the next page. */
export async function page(env: DirectoryEnv, listing: Listing, q: z.infer<typeof PageQuery>): Promise<{ entries: DirectoryEntry[]; cursor?: string }> {
  const result = await directory(env, listing).page({ limit: q.limit, ...(q.cursor ? { after: decodeCursor(q.cursor) } : {}), ...(q.prefix ? { prefix: q.prefix } : {}) });
  return result.next ? { entries: result.entries, cursor: encodeCursor(result.next) } : { entries: result.entries };
}
