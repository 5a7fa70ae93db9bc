// Issue 14: a peer may act only on relationships that involve one of its own subscribers. The
// local subscriber's object names the other side of each activation it knows ("peer:<mcc>-<mnc>:tel:+..."
// when a peer serves it); anything else is refused with 403.
import type { Context } from "hono";
import type { AppEnv } from "../env";
import { ApiError } from "../http/errors";
import { destinationOf } from "../twinning/outbox";
import { subscriberStub } from "../ops/residency";

/** The other side of `relationshipId` at `local`'s object, when it knows it; 403 when it is not the calling peer's subscriber. */
export async function assertPeersRelationship(c: Context<AppEnv>, local: string, relationshipId: string): Promise<string | undefined> {
  const other = await subscriberStub(c.env, local).counterpart(relationshipId);
  if (other === undefined) return undefined;
  const at = destinationOf(other);
  const peer = c.get("peer").mno;
  if (at.kind !== "peer" || at.mno !== peer) throw new ApiError(403, "POL0001", [`relationship ${relationshipId} involves no subscriber of MNO ${peer}`]);
  return other;
}
