// HLF-PD-001, use case step 7: activation is a two-phase commit with the primary as coordinator.
//
//   1. primary, in memory: the guess is counted, the role and the name are checked, the activation
//      is reserved (presumed abort: the coordinator writes nothing before its decision);
//   2. the code's bucket (activation-code-index.ts): the code is spent (one-time; of 20 racing
//      primaries exactly one gets the secondary);
//   3. secondary, one transaction: role checks, current-code check, relationship row `pending` with
//      a deadline and its alarm (the prepare step);
//   4. primary, one transaction: the twin row. This is the commit point;
//   5. secondary, one transaction: pending → active, its alarm cleared (the confirmation).
// Four commits, six with the code request's two (its bucket, the secondary's current code); the
// prepare step's alarm is deleted by the confirmation, so nothing is left to fire.
//
// Recovery: a request that dies after step 3 leaves a pending claim; the secondary's alarm asks the
// primary for its final word (`resolveActivation`: committed if the twin row exists, otherwise the
// reservation, if still running, is aborted and the answer is aborted). A confirmation that fails
// inline is queued in the primary's outbox. A reservation that must outlive its request is written
// to the `reservation` table and aborted by the primary's alarm at its deadline.
//
// Seams for inter-MNO twinning: the other side of the protocol is reached through
// ActivationParticipant (the coordinator's view of the secondary) and ActivationCoordinator (the
// secondary's view of the primary). Local sides are SubscriberObject stubs; a side at a peer
// operator (an address of the form "peer:<mcc>-<mnc>:tel:+...", see outbox.ts) is reached through
// the RemoteActivations the federation capability registers with useRemoteActivations().
import { config } from "../config";
import type { Env } from "../env";
import { ApiError, invalidInput, roleMixture, serviceError, type Outcome } from "../http/errors";
import type { ActivationCodeStore } from "./activation-codes";
import { codeKey, redeemCode, revokeCode } from "./activation-code-index";
import { DELIVERY_TIMEOUT_MS, destinationOf, INLINE_LEASE_MS, targetOf, type Outbox } from "./outbox";
import { withDeadline } from "../notify/queue";
import type { ProfileStore } from "./profile-store";
import type { RelationshipStore, StatusChange, TwinRow } from "./relationships";
import type { Mno, TwinningStatus } from "./schemas";
import type { TwinningEvent } from "../notify/queue";
import { subscriberStub } from "../residency";

/** What a primary offers a secondary when it redeems the secondary's code (the prepare step). */
export interface ActivationOffer {
  activationId: string;
  primary: string;
  primaryMno: Mno;
  code: string;
  name: string;
  activatedAt: number;
}

export type PrepareAnswer = "accepted" | "invalid-code";

export interface ActivationParticipant {
  acceptPrimary(offer: ActivationOffer): Promise<Outcome<PrepareAnswer>>;
  confirmActivation(activationId: string): Promise<void>;
  abortActivation(activationId: string): Promise<void>;
}

export interface ActivationCoordinator {
  resolveActivation(activationId: string): Promise<"committed" | "aborted">;
}

/** What a secondary asks of its primary once twinned (toggle, leave): a SubscriberObject, or a primary at a peer. */
export interface PrimarySide extends ActivationCoordinator {
  secondaryToggled(secondary: string, activationId: string, status: TwinningStatus): Promise<StatusChange | undefined>;
  secondaryLeft(secondary: string, activationId: string): Promise<void>;
}

export interface RemoteActivations {
  participant(env: Env, mno: string, address: string): ActivationParticipant;
  coordinator(env: Env, mno: string, address: string): PrimarySide;
  /**
   * HLF-IC-002 / TE-006: the code the peer serving `primaryMno` generated for `secondary`, a subscriber
   * here. Undefined when no peer serves that MNO; throws (503) when the peer cannot answer.
   */
  codeFrom(env: Env, primaryMno: Mno, secondary: string): Promise<{ code: string; expiresAt: number } | undefined>;
  /**
   * HLF-IC-004, code generated at the peer serving `codeMno`: it redeems the code and takes the
   * secondary's side (the prepare step) in one request. Undefined when no peer serves that MNO.
   */
  redeemAt(env: Env, codeMno: Mno, offer: ActivationOffer): Promise<(Outcome<PrepareAnswer> & { secondary?: string }) | undefined>;
  /** HLF-IC-006: the service endpoints of the primaries of the peer serving `mno`; undefined when no peer serves it or it cannot say now. */
  servicesOf(env: Env, mno: Mno): Promise<Record<string, string> | undefined>;
}

let remote: RemoteActivations | undefined;

/** Registers how activations reach the other side at a peer operator; called once when the app is mounted. */
export function useRemoteActivations(r: RemoteActivations): void {
  remote = r;
}

function side(env: Env, target: string): ActivationParticipant & PrimarySide {
  const to = destinationOf(target);
  if (to.kind === "subscriber") return subscriberStub(env, to.address);
  if (!remote) throw serviceError(503, `no inter-MNO peer for ${to.mno}`);
  return { ...remote.participant(env, to.mno, to.address), ...remote.coordinator(env, to.mno, to.address) };
}

/** The primary of a secondary's relationship, wherever it is served (`target`: "tel:+..." or "peer:<mcc>-<mnc>:tel:+..."). */
export const primarySide = (env: Env, target: string): PrimarySide => side(env, target);

/** HLF-IC-006: the primary's service endpoints: its peer operator's for a primary at a peer, else this gateway's PRIMARY_SERVICES. */
export async function primaryServicesOf(env: Env, rel: { primaryMno: Mno; primaryAtPeer?: true }): Promise<Record<string, string> | undefined> {
  const services = rel.primaryAtPeer ? ((remote ? await remote.servicesOf(env, rel.primaryMno).catch(() => undefined) : undefined) ?? {}) : config(env).PRIMARY_SERVICES;
  return Object.keys(services).length ? services : undefined;
}

/** The code a peer generated for a secondary here (see RemoteActivations.codeFrom); undefined without federation. */
export const codeFromPeer = (env: Env, primaryMno: Mno, secondary: string) => remote?.codeFrom(env, primaryMno, secondary) ?? Promise.resolve(undefined);

/** How long a half-done activation may stay half-done before an alarm completes or undoes it. */
export const ACTIVATION_DEADLINE_MS = 30_000;

const roleConflictAsSecondary = (relationships: RelationshipStore): string | undefined => {
  if (relationships.isSecondary()) return "the secondary device is already in a twinning relationship (HLF-TE-009)";
  if (relationships.isPrimary()) return "a primary device cannot become a secondary device (HLF-TE-008)";
  return undefined;
};

/** The parts of the subscriber object the protocol works on. */
export interface ActivationHost {
  env: Env;
  profile: ProfileStore;
  relationships: RelationshipStore;
  codes: ActivationCodeStore;
  outbox: Outbox;
  /** One transaction of the object (it arms the alarm for what the change made due). */
  tx<T>(fn: () => T): T;
  notify(event: TwinningEvent): void;
}

export class TwoPhaseActivation {
  constructor(private readonly host: ActivationHost) {}

  /** Refuses, with POL1037, a subscriber that may not become a secondary now. */
  assertMayBecomeSecondary(): void {
    const conflict = roleConflictAsSecondary(this.host.relationships);
    if (conflict) throw roleMixture(conflict);
  }

  roleConflictAsSecondary(): string | undefined {
    return roleConflictAsSecondary(this.host.relationships);
  }

  // ------------------------------------------------------------ coordinator (the primary)

  /**
   * `codeMno`: the MNO that generated the code (HLF-SD-003), when the primary's app names it. A code
   * of a peer operator is redeemed there, in the peer's prepare step (HLF-IC-004).
   */
  async activate(code: string, requestedName: string | undefined, codeMno?: Mno, homeMnos: Mno[] = []): Promise<TwinRow> {
    const { env, profile, relationships, codes } = this.host;
    const me = profile.require();
    const { hash: codeHash } = await codeKey(code);
    const activationId = crypto.randomUUID();
    const now = Date.now();
    // A retry of an activation that committed (its answer was lost): the same twin, while the code
    // would still have been valid. It spends no guess; only this primary's own twins are looked at.
    const retriedSince = now - config(env).ACTIVATION_CODE_TTL_SECONDS * 1000;
    const retried = relationships.twinActivatedWith(codeHash, retriedSince);
    if (retried) return retried;
    // Step 1, synchronous: nothing can interleave between these checks and the reservation.
    codes.startGuess(now);
    let failedGuess = false;
    try {
      if (relationships.isSecondary()) throw roleMixture("a secondary device cannot become a primary device (HLF-TE-008)");
      const name = requestedName ?? relationships.defaultName();
      if (relationships.nameTaken(name)) throw invalidInput("name", "already used by another twin of this primary");
      relationships.reserve({ activationId, name, deadline: now + ACTIVATION_DEADLINE_MS });
      try {
        // Same answer for unknown, used, expired and revoked codes: nothing to learn by probing.
        const invalid = () => {
          failedGuess = true;
          return invalidInput("activationCode", "unknown, used or expired activation code");
        };
        const offer: ActivationOffer = { activationId, primary: me.address, primaryMno: { mcc: me.mcc, mnc: me.mnc }, code, name, activatedAt: now };
        const served = (m: Mno) => [...homeMnos, offer.primaryMno].some((h) => h.mcc === m.mcc && h.mnc === m.mnc);
        let secondary: string;
        let secondaryMno: Mno;
        if (codeMno && !served(codeMno)) {
          // A code of a peer operator: it redeems the code and takes the secondary's side in one step.
          const atPeer = remote ? await remote.redeemAt(env, codeMno, offer) : undefined;
          if (!atPeer) throw invalidInput("activationCodeMno", "no inter-MNO peer serves this MNO");
          if (!atPeer.ok) throw ApiError.from(atPeer.error);
          if (atPeer.value === "invalid-code" || !atPeer.secondary) throw invalid();
          secondary = targetOf({ kind: "peer", mno: `${codeMno.mcc}-${codeMno.mnc}`, address: atPeer.secondary });
          secondaryMno = codeMno;
          if (!relationships.reservation(activationId)) {
            await this.send(secondary, { method: "abortActivation", activationId });
            throw serviceError(503, "activation timed out, retry with a new code");
          }
          relationships.reservation(activationId)!.secondary = secondary;
        } else {
          const redemption = await redeemCode(env, code, me.address);
          if (redemption.outcome === "invalid") throw invalid();
          if (redemption.outcome === "self") throw roleMixture("a device cannot be twinned with itself");
          // A code this gateway generated for a secondary at a peer names it "peer:<mcc>-<mnc>:tel:+...".
          secondary = redemption.secondary;
          secondaryMno = redemption.mno;
          const reservation = relationships.reservation(activationId);
          if (!reservation) throw serviceError(503, "activation timed out, retry with a new code");
          reservation.secondary = secondary;
          // A lost answer is an abort: if the secondary did accept, its alarm asks resolveActivation
          // and hears "aborted", because the reservation is gone by then.
          const accepted = await side(env, secondary).acceptPrimary(offer);
          if (!accepted.ok) throw ApiError.from(accepted.error);
          if (accepted.value === "invalid-code") throw invalid();
        }

        const decision = this.host.tx(() => {
          if (!relationships.dropReservation(activationId)) return undefined;
          relationships.insertTwin({ secondary, name, activationId, mno: secondaryMno, at: now, codeHash });
          this.host.notify({ event: "Activated", primary: me.address, secondary, name, status: "On", actor: "primary", at: now });
          // Issue 12: now a primary, this subscriber's own live code (asked for as a would-be
          // secondary) is revoked, so guessing it is an ordinary failed guess, not a role answer.
          return { ownCode: codes.take() };
        });
        if (!decision) {
          await this.send(secondary, { method: "abortActivation", activationId });
          throw serviceError(503, "activation timed out, retry with a new code");
        }
        try {
          await side(env, secondary).confirmActivation(activationId);
        } catch {
          await this.send(secondary, { method: "confirmActivation", activationId });
        }
        if (decision.ownCode) await revokeCode(env, decision.ownCode, me.address).catch(() => undefined);
        // The row as the commit wrote it (status On, version 1): no read, which for a secondary named
        // by its address is a scan of the primary's twins (findTwin also matches peer addresses).
        return { secondary, name, status: "On", version: 1, activation_id: activationId, mcc: secondaryMno.mcc, mnc: secondaryMno.mnc, activated_at: now, changed_at: now, changed_by: "primary", code_hash: codeHash };
      } finally {
        if (relationships.reservation(activationId)) relationships.dropReservation(activationId);
      }
    } catch (err) {
      // A retry that raced the activation it repeats (the code was spent by it): once that one has
      // committed, this is its twin, not a failed guess.
      const raced = failedGuess ? relationships.twinActivatedWith(codeHash, retriedSince) : undefined;
      if (!raced) throw err;
      failedGuess = false;
      return raced;
    } finally {
      if (failedGuess) this.host.tx(() => codes.settleGuess(true));
      else codes.settleGuess(false);
    }
  }

  /** Queues a message to the other side and delivers it now; the alarm retries it if that fails. */
  private async send(target: string, message: Parameters<Outbox["enqueue"]>[1]): Promise<void> {
    const id = this.host.tx(() => this.host.outbox.enqueue(target, message, INLINE_LEASE_MS));
    await this.host.outbox.deliverNow([id]);
  }

  /** The primary's final word on an activation. One still running here is aborted. */
  resolve(activationId: string): "committed" | "aborted" {
    const { relationships } = this.host;
    if (relationships.hasTwin(activationId)) return "committed";
    if (relationships.reservation(activationId)) relationships.dropReservation(activationId);
    else if (relationships.reservationWritten(activationId)) this.host.tx(() => relationships.dropReservation(activationId));
    return "aborted";
  }

  // ------------------------------------------------------------ participant (the secondary)

  /** Prepare step: claim the secondary role for this offer, or refuse. */
  accept(offer: ActivationOffer): PrepareAnswer {
    const { profile, relationships, codes } = this.host;
    if (!profile.row()) return "invalid-code";
    if (relationships.relationship()?.activation_id === offer.activationId) return "accepted";
    this.assertMayBecomeSecondary();
    if (!codes.isCurrent(offer.code)) return "invalid-code";
    this.host.tx(() => {
      codes.take();
      relationships.claim({ ...offer, deadline: Date.now() + ACTIVATION_DEADLINE_MS });
    });
    return "accepted";
  }

  confirm(activationId: string): void {
    this.host.tx(() => {
      if (!this.host.relationships.confirm(activationId)) return;
      const rel = this.host.relationships.relationship()!;
      this.host.notify({ event: "Activated", primary: rel.primary_address, secondary: this.host.profile.row()?.address ?? "", name: rel.name, status: rel.status, actor: "primary", at: rel.activated_at });
    });
  }

  abort(activationId: string): void {
    if (this.host.relationships.relationship()?.activation_id !== activationId) return;
    this.host.tx(() => this.host.relationships.end(activationId, true));
  }

  /** The secondary's alarm: a claim past its deadline is settled by the primary's final word. */
  async settleOverdueClaim(now: number): Promise<void> {
    const rel = this.host.relationships.relationship();
    if (!rel || rel.state !== "pending" || (rel.deadline ?? Infinity) > now) return;
    try {
      const decision = await withDeadline(side(this.host.env, rel.primary_address).resolveActivation(rel.activation_id), DELIVERY_TIMEOUT_MS);
      if (decision === "committed") this.confirm(rel.activation_id);
      else this.abort(rel.activation_id);
    } catch {
      this.host.tx(() => this.host.relationships.postponePending(rel.activation_id, now + 5_000));
    }
  }

  /** The primary's alarm: written reservations past their deadline are aborted, on both sides. */
  abortOverdueReservations(now: number): void {
    const overdue = this.host.relationships.expiredReservations(now);
    if (overdue.length === 0) return;
    this.host.tx(() => {
      for (const r of overdue) {
        this.host.relationships.dropReservation(r.activationId);
        if (r.secondary) this.host.outbox.enqueue(r.secondary, { method: "abortActivation", activationId: r.activationId });
      }
    });
  }
}
