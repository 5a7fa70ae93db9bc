// The subscriber as a secondary (HLF-SD-*): the one-time codes it asks for, its one relationship,
// its own toggles and leaving (decided at the primary's object, then applied here), and what it
// hears from its primary (statuses by version, the end of the relationship).
import type { Mno, TwinningStatus } from "./schemas";
import { ApiError, notFound, roleMixture, serviceError } from "../http/errors";
import { generateActivationCode } from "../codec";
import { DEVICE_POLL_INTERVAL_S, type DeviceGrantRequest, type SubjectLedger } from "../oauth/subject-ledger";
import { codeFromPeer, primarySide, type TwoPhaseActivation } from "./activation";
import { issueCode, revokeCode } from "./activation-code-index";
import { relationshipRecord, type IssuedActivationCode, type RelationshipRecord } from "./records";
import type { Actor, StatusChange } from "./relationships";
import type { RoleHost } from "./primary-role";

const CODE_ISSUE_ATTEMPTS = 8;

export class SecondaryRole {
  constructor(
    private readonly host: RoleHost,
    private readonly ledger: SubjectLedger,
    private readonly activation: TwoPhaseActivation,
  ) {}

  /**
   * HLF-SD-001..003, HLF-TE-005/006: a fresh one-time code for this secondary. A newer code
   * revokes the previous one; the code's MNO is the one that generated it.
   */
  async issueCode(primaryMno: Mno | undefined, homeMnos: Mno[], ttlMs: number, deviceGrant?: DeviceGrantRequest): Promise<IssuedActivationCode> {
    const { env } = this.host;
    const profile = this.host.profile.require();
    this.activation.assertMayBecomeSecondary();
    const ownMno = { mcc: profile.mcc, mnc: profile.mnc };
    const served = (m: Mno) => homeMnos.some((h) => h.mcc === m.mcc && h.mnc === m.mnc) || (m.mcc === ownMno.mcc && m.mnc === ownMno.mnc);
    // HLF-IC-002/003, TE-006: a primary MNO served by an inter-MNO peer generates and keeps the code itself.
    const foreign = primaryMno && !served(primaryMno) ? await codeFromPeer(env, primaryMno, profile.address) : undefined;
    if (primaryMno && !served(primaryMno) && !foreign) {
      // HLF-TE-006: a foreign primary MNO would generate the code; no inter-MNO peer is configured for it.
      const valid = new Set([ownMno, ...homeMnos].map((m) => `${m.mcc}-${m.mnc}`));
      throw new ApiError(400, "SVC0003", ["primaryMno", [...valid].join(",")]);
    }
    const mno = primaryMno ?? ownMno;
    const expiresAt = foreign?.expiresAt ?? Date.now() + ttlMs;
    const device = deviceGrant ? await this.ledger.newDeviceCode(env, profile.address) : undefined;
    let code: string | undefined = foreign?.code;
    for (let attempt = 0; attempt < CODE_ISSUE_ATTEMPTS && !code; attempt++) {
      const candidate = generateActivationCode();
      if (await issueCode(env, candidate, { secondary: profile.address, mno, expiresAt })) code = candidate;
    }
    if (!code) throw serviceError(503, "no free activation code, retry");
    const issued = code;
    const result = this.host.tx(() => {
      // The role may have changed while the code object answered.
      const conflict = this.activation.roleConflictAsSecondary();
      if (conflict) return { conflict };
      const previous = this.host.codes.replace(issued, expiresAt);
      if (device) this.ledger.recordDeviceGrant(device.hash, deviceGrant!, issued, expiresAt);
      return { previous };
    });
    if ("conflict" in result) {
      if (!foreign) await revokeCode(env, issued, profile.address);
      throw roleMixture(result.conflict!);
    }
    // Best effort: the prepare step also refuses any code but the current one.
    if (result.previous) await revokeCode(env, result.previous, profile.address).catch(() => undefined);
    return { code: issued, mno, expiresAt, ...(device ? { deviceCode: device.secret, interval: DEVICE_POLL_INTERVAL_S } : {}) };
  }

  /** HLF-SD-006: the primary this secondary is twinned with, and the status. */
  relationship(): RelationshipRecord {
    return relationshipRecord(this.host.relationships.activeRelationship());
  }

  /** HLF-SD-004, TE-002: the toggle takes effect at the primary's object, then here. One call between the two. */
  async toggle(status: TwinningStatus): Promise<RelationshipRecord> {
    const profile = this.host.profile.require();
    const rel = this.host.relationships.activeRelationship();
    const change = await primarySide(this.host.env, rel.primary_address).secondaryToggled(profile.address, rel.activation_id, status);
    if (!change) {
      // The primary ended the relationship meanwhile; its outbox message may still be in flight.
      this.relationshipEnded(rel.activation_id, "primary");
      throw notFound("relationship", "twinning relationship");
    }
    this.applyStatus(rel.activation_id, change);
    return this.relationship();
  }

  /** HLF-SD-007, TE-004: the secondary ends the relationship for good. */
  async leave(): Promise<void> {
    const profile = this.host.profile.require();
    const rel = this.host.relationships.activeRelationship();
    await primarySide(this.host.env, rel.primary_address).secondaryLeft(profile.address, rel.activation_id);
    this.relationshipEnded(rel.activation_id, "secondary");
  }

  /** The subscriber `address` is being removed: its primary hears that it left (through the outbox). Inside that transaction. */
  queueLeaving(address: string): void {
    const rel = this.host.relationships.relationship();
    if (rel) this.host.outbox.enqueue(rel.primary_address, { method: "secondaryLeft", secondary: address, activationId: rel.activation_id });
  }

  /** A status decided by the primary. Older versions are ignored. */
  applyStatus(activationId: string, change: StatusChange): void {
    this.host.tx(() => {
      const rel = this.host.relationships.applyStatus(activationId, change);
      // HLF-SD-008: the secondary hears of a toggle once it has taken effect (and only of newer ones: order holds).
      if (rel) this.host.notify({ event: "StatusChanged", primary: rel.primary_address, secondary: this.host.profile.row()?.address ?? "", name: rel.name, status: change.status, actor: change.by, at: change.at });
    });
  }

  relationshipEnded(activationId: string, by: Actor): void {
    if (this.host.relationships.relationship()?.activation_id !== activationId) return;
    this.host.tx(() => {
      const rel = this.host.relationships.end(activationId);
      if (rel?.state === "active") this.host.notify({ event: "Deactivated", primary: rel.primary_address, secondary: this.host.profile.row()?.address ?? "", name: rel.name, actor: by, at: Date.now() });
    });
  }
}
