// The subscriber as a primary (HLF-PD-*): its twins, the toggles and deactivations it decides, and
// what it hears from its secondaries (their toggles, HLF-SD-004, and their leaving, SD-007). The
// primary's object decides every status: each change, its message to the secondary and the
// notifications are one transaction; the outbox carries the message, locally or to a peer.
import type { ActivationHost } from "./activation";
import { INLINE_LEASE_MS, type OutboxMessage } from "./outbox";
import { twinRecord, type TwinRecord } from "./records";
import type { Actor, StatusChange, TwinRow } from "./relationships";
import type { TwinningStatus } from "./schemas";

/**
 * A change the other side asked for (a secondary's toggle or leave) is applied there by the caller
 * itself; the copy queued here only repairs a caller that died before applying it.
 */
const REPAIR_DELAY_MS = 30_000;

export interface RoleHost extends ActivationHost {
  /** Delivers a queued message now (after the commit that wrote it); the alarm retries a failure. */
  deliverNow(outboxId: number | undefined): Promise<void>;
}

export class PrimaryRole {
  constructor(private readonly host: RoleHost) {}

  private get address(): string {
    return this.host.profile.row()?.address ?? "";
  }

  /** HLF-PD-003, PD-006: every twin with its status. */
  twins(): TwinRecord[] {
    return this.host.relationships.twins().map(twinRecord);
  }

  twin(twinId: string): TwinRecord {
    return twinRecord(this.host.relationships.findTwin(twinId));
  }

  /** HLF-PD-002, TE-002/003: toggle from the primary; Off keeps the relationship. */
  async toggle(twinId: string, status: TwinningStatus): Promise<TwinRecord> {
    const { twin, id } = this.host.tx(() => {
      const twin = this.host.relationships.findTwin(twinId);
      const change = this.changeTwinStatus(twin, status, "primary", INLINE_LEASE_MS);
      return { twin: change ? { ...twin, status, version: change.version, changed_at: change.at, changed_by: change.by } : twin, id: change?.outboxId };
    });
    await this.host.deliverNow(id);
    return twinRecord(twin);
  }

  /** HLF-PD-004, TE-004: the primary (or its operator) ends the relationship for good. */
  async endTwin(twinId: string): Promise<void> {
    const id = this.host.tx(() => {
      const twin = this.host.relationships.findTwin(twinId);
      this.host.relationships.deleteTwin(twin.secondary);
      this.host.notify({ event: "Deactivated", primary: this.host.profile.row()!.address, secondary: twin.secondary, name: twin.name, actor: "primary", at: Date.now() });
      return this.host.outbox.enqueue(twin.secondary, { method: "relationshipEnded", activationId: twin.activation_id, by: "primary" }, INLINE_LEASE_MS);
    });
    await this.host.deliverNow(id);
  }

  /** The secondary toggled (HLF-SD-004). Undefined when the twin is gone. */
  secondaryToggled(secondary: string, activationId: string, status: TwinningStatus): StatusChange | undefined {
    return this.host.tx(() => {
      const twin = this.host.relationships.twinOf(secondary, activationId);
      if (!twin) return undefined;
      // The caller applies the change itself; the queued copy only repairs a caller that died.
      return this.changeTwinStatus(twin, status, "secondary", REPAIR_DELAY_MS) ?? this.host.relationships.currentChange(twin);
    });
  }

  /** The secondary ended the relationship (HLF-SD-007). */
  secondaryLeft(secondary: string, activationId: string): void {
    const twin = this.host.relationships.twinOf(secondary, activationId);
    if (!twin) return;
    this.host.tx(() => {
      this.host.relationships.deleteTwin(secondary);
      this.host.outbox.enqueue(secondary, { method: "relationshipEnded", activationId, by: "secondary" } satisfies OutboxMessage, REPAIR_DELAY_MS);
      this.host.notify({ event: "Deactivated", primary: this.address, secondary, name: twin.name, actor: "secondary", at: Date.now() });
    });
  }

  /** The subscriber is being removed: every twin and reservation ends at its secondary (through the outbox). Inside that transaction. */
  queueEndOfEveryTwin(): void {
    for (const twin of this.host.relationships.twins()) this.host.outbox.enqueue(twin.secondary, { method: "relationshipEnded", activationId: twin.activation_id, by: "primary" });
    for (const r of this.host.relationships.allReservations()) if (r.secondary) this.host.outbox.enqueue(r.secondary, { method: "abortActivation", activationId: r.activationId });
  }

  /** The one place a twin's status changes: the message to the secondary and the notifications go in the same transaction. */
  private changeTwinStatus(twin: TwinRow, status: TwinningStatus, by: Actor, leaseMs: number): (StatusChange & { outboxId: number }) | undefined {
    const change = this.host.relationships.changeTwinStatus(twin, status, by);
    if (!change) return undefined;
    const outboxId = this.host.outbox.enqueue(twin.secondary, { method: "applyStatus", activationId: twin.activation_id, change }, leaseMs);
    this.host.notify({ event: "StatusChanged", primary: this.host.profile.row()!.address, secondary: twin.secondary, name: twin.name, status, actor: by, at: change.at });
    return { ...change, outboxId };
  }
}
