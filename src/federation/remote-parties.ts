// The other side of a relationship, when it is served by a peer operator: the same protocol the
// subscriber objects speak to each other inside one gateway (prepare, confirm, abort, status,
// end, resolve, toggle, leave), carried over the operator-to-operator API. Each message has an
// Idempotency-Key derived from what it says, so a redelivery from the outbox is recognised by the
// peer as the same request.
import type { Env } from "../env";
import { ApiError, type Outcome } from "../http/errors";
import type { ActivationOffer, Actor, StatusChange } from "../twinning/subscriber-object";
import type { Mno, TwinningStatus } from "../twinning/schemas";
import { callPeer, peerUnavailable, relayedError, type PeerRequest, type PeerResponse } from "./client";
import { PeerUnavailableError } from "./peer-http";
import { mnoKey } from "./peers";

async function send(env: Env, mno: string, req: PeerRequest): Promise<PeerResponse> {
  try {
    return await callPeer(env, mno, req);
  } catch (err) {
    if (err instanceof PeerUnavailableError) throw peerUnavailable(mno, err);
    throw err;
  }
}

function expect(mno: string, res: PeerResponse, ...ok: number[]): PeerResponse {
  if (!ok.includes(res.status)) throw relayedError(mno, res);
  return res;
}

/** A secondary served by the peer `mno`: what the primary's object asks of it. */
export function remoteSecondary(env: Env, mno: Mno, secondary: string) {
  const peer = mnoKey(mno);
  return {
    /** Prepare (HLF-IC-004). `secondary` known: the code was generated here; the peer checks it is the latest. */
    async acceptPrimary(offer: ActivationOffer, knownSecondary = true): Promise<Outcome<"accepted" | "invalid-code"> & { secondary?: string }> {
      const res = await send(env, peer, {
        method: "PUT",
        path: `/activations/${offer.activationId}`,
        idempotencyKey: `prepare:${offer.activationId}`,
        body: {
          primary: offer.primary,
          activationCode: offer.code,
          name: offer.name,
          activatedAt: new Date(offer.activatedAt).toISOString(),
          ...(knownSecondary ? { secondary } : {}),
        },
      });
      if (res.status === 201) return { ok: true, value: "accepted", secondary: res.body?.activation?.secondary };
      const err = relayedError(peer, res);
      if (res.status === 400 && err.variables[0] === "activationCode") return { ok: true, value: "invalid-code" };
      return { ok: false, error: err.toData() };
    },
    async confirmActivation(activationId: string): Promise<void> {
      expect(peer, await send(env, peer, { method: "POST", path: `/activations/${activationId}/confirmation`, idempotencyKey: `confirm:${activationId}`, body: { secondary } }), 204);
    },
    async abortActivation(activationId: string): Promise<void> {
      await this.relationshipEnded(activationId, "primary");
    },
    async applyStatus(activationId: string, change: StatusChange): Promise<void> {
      expect(peer, await send(env, peer, {
        method: "PUT",
        path: `/relationships/${activationId}/status`,
        idempotencyKey: `status:${activationId}:${change.version}`,
        body: { secondary, status: change.status, version: change.version, changedAt: new Date(change.at).toISOString(), by: change.by },
      }), 204);
    },
    async relationshipEnded(activationId: string, by: Actor): Promise<void> {
      expect(peer, await send(env, peer, { method: "POST", path: `/relationships/${activationId}/end`, idempotencyKey: `end:${activationId}`, body: { secondary, by } }), 204);
    },
  };
}

/** A primary served by the peer `mno`: what the secondary's object asks of it. */
export function remotePrimary(env: Env, mno: Mno, primary: string) {
  const peer = mnoKey(mno);
  return {
    async resolveActivation(activationId: string): Promise<"committed" | "aborted"> {
      const res = expect(peer, await send(env, peer, { method: "POST", path: `/activations/${activationId}/resolution`, idempotencyKey: `resolve:${activationId}`, body: { primary } }), 200);
      const state = res.body?.activation?.state;
      if (state !== "committed" && state !== "aborted") throw peerUnavailable(peer, new Error("resolution answered no state"));
      return state;
    },
    async secondaryToggled(secondary: string, activationId: string, status: TwinningStatus): Promise<StatusChange | undefined> {
      const res = await send(env, peer, { method: "PUT", path: `/twins/${activationId}/status`, idempotencyKey: crypto.randomUUID(), body: { primary, secondary, status } });
      if (res.status === 404) return undefined;
      const b = expect(peer, res, 200).body;
      return { status: b.status, version: b.version, at: Date.parse(b.changedAt), by: b.by };
    },
    async secondaryLeft(secondary: string, activationId: string): Promise<void> {
      expect(peer, await send(env, peer, { method: "POST", path: `/twins/${activationId}/end`, idempotencyKey: `leave:${activationId}`, body: { primary, secondary } }), 204);
    },
  };
}

/** HLF-IC-002 / TE-006: the secondary's operator asks the primary's for a code. */
export async function codeFromPeer(env: Env, primaryMno: Mno, secondary: string): Promise<{ code: string; mno: Mno; expiresAt: number }> {
  const peer = mnoKey(primaryMno);
  const res = expect(peer, await send(env, peer, { method: "POST", path: "/activationCodes", idempotencyKey: crypto.randomUUID(), body: { secondary, primaryMno } }), 201);
  const code = res.body?.activationCode;
  if (typeof code?.code !== "string" || typeof code?.expiresAt !== "string") throw new ApiError(502, "SVC0001", [`peer MNO ${peer} answered an unexpected activation code`]);
  return { code: code.code, mno: code.mno, expiresAt: Date.parse(code.expiresAt) };
}

/** HLF-IC-006 / SD-009: the primary's operator's own token for its primary, for our twinned secondary. */
export async function delegatedTokenFromPeer(env: Env, primaryMno: Mno, relationship: { primary: string; secondary: string; relationshipId: string }) {
  const peer = mnoKey(primaryMno);
  const res = expect(peer, await send(env, peer, {
    method: "POST",
    path: `/twins/${relationship.relationshipId}/delegatedTokens`,
    idempotencyKey: crypto.randomUUID(),
    body: { primary: relationship.primary, secondary: relationship.secondary },
  }), 200);
  if (typeof res.body?.access_token !== "string") throw new ApiError(502, "SVC0001", [`peer MNO ${peer} answered no access token`]);
  return res.body as { access_token: string; issued_token_type: string; token_type: "Bearer"; expires_in: number; scope: string };
}
