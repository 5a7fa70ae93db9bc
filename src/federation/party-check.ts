// Issue 14: a peer may act only on relationships that involve one of its own subscribers. The
// local subscriber's object names the other side of each activation it knows ("peer:<mcc>-<mnc>:tel:+..."
// when a peer serves it); anything else is refused with 403.
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { ApiError, notFound } from "../http/errors";
import type { Counterpart } from "../twinning/relationships";
import { destinationOf } from "../twinning/outbox";
import { subscriberStub } from "../residency";

/**
 * The other side of `relationshipId` at `local`'s object, when it knows it; 403 when it is not the
 * calling peer's subscriber, 404 when `local` holds it in another role than the route acts on (a
 * peer asking for a token of a subscriber that is only its secondary, say).
 */
export async function assertPeersRelationship(c: Context<AppEnv>, local: string, relationshipId: string, roles: readonly Counterpart["as"][]): Promise<string | undefined> {
  const held = await subscriberStub(c.env, local).counterpart(relationshipId);
  if (held === undefined) return undefined;
  const at = destinationOf(held.other);
  const peer = c.get("peer").mno;
  if (at.kind !== "peer" || at.mno !== peer) throw new ApiError(403, "POL0001", [`relationship ${relationshipId} involves no subscriber of MNO ${peer}`]);
  if (!roles.includes(held.as)) throw notFound("relationshipId", relationshipId);
  return held.other;
}
