// The operator's view of a subscriber's twinning (admin API, no device token): its twins as a
// primary and its relationship as a secondary, and ending a twin as its primary would (HLF-PD-004).
import { notFound } from "../http/errors";
import type { PrimaryRole } from "./primary-role";
import type { ProfileStore } from "./profile-store";
import { relationshipRecord, twinRecord, type RelationshipRecord, type TwinRecord } from "./records";
import type { RelationshipStore } from "./relationships";

export class AdminView {
  constructor(
    private readonly profile: ProfileStore,
    private readonly relationships: RelationshipStore,
    private readonly primary: PrimaryRole,
  ) {}

  private provisioned(): void {
    if (!this.profile.row()) throw notFound("address", "the subscriber");
  }

  twinning(): { twins: TwinRecord[]; relationship?: RelationshipRecord } {
    this.provisioned();
    const rel = this.relationships.relationship();
    return { twins: this.relationships.twins().map(twinRecord), ...(rel?.state === "active" ? { relationship: relationshipRecord(rel) } : {}) };
  }

  /** Both sides and the notifications, as when the primary ends it. */
  endTwin(twinId: string): Promise<void> {
    this.provisioned();
    return this.primary.endTwin(twinId);
  }
}
