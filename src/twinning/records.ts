// What the subscriber object answers about a subscriber and its relationships: the shapes the
// device-facing and admin APIs turn into JSON, and how a row becomes one. A side served by an
// inter-MNO peer is stored as "peer:<mcc>-<mnc>:tel:+..."; devices only ever see the tel: address.
import { addressOf, destinationOf } from "./outbox";
import type { Actor, RelationshipRow, TwinRow } from "./relationships";
import type { Mno, TwinningStatus } from "./schemas";

export type Role = "none" | "primary" | "secondary";

export interface SubscriberProfile {
  address: string;
  mno: Mno;
  role: Role;
  createdAt: number;
}

export interface TwinRecord {
  secondary: string;
  name: string;
  status: TwinningStatus;
  secondaryMno: Mno;
  activatedAt: number;
  statusChangedAt: number;
  statusChangedBy: Actor;
}

export interface RelationshipRecord {
  primary: string;
  /** The primary is served by an inter-MNO peer (its operator is primaryMno). */
  primaryAtPeer?: true;
  name: string;
  status: TwinningStatus;
  primaryMno: Mno;
  activatedAt: number;
  statusChangedAt: number;
  statusChangedBy: Actor;
}

export interface IssuedActivationCode {
  code: string;
  mno: Mno;
  expiresAt: number;
  /** Present when the request also asked for a device grant: the secret the device polls with. */
  deviceCode?: string;
  interval?: number;
}

export const twinRecord = (r: TwinRow): TwinRecord => ({
  secondary: addressOf(r.secondary),
  name: r.name,
  status: r.status,
  secondaryMno: { mcc: r.mcc, mnc: r.mnc },
  activatedAt: r.activated_at,
  statusChangedAt: r.changed_at,
  statusChangedBy: r.changed_by,
});

export const relationshipRecord = (r: RelationshipRow): RelationshipRecord => ({
  primary: addressOf(r.primary_address),
  ...(destinationOf(r.primary_address).kind === "peer" ? { primaryAtPeer: true } : {}),
  name: r.name,
  status: r.status,
  primaryMno: { mcc: r.mcc, mnc: r.mnc },
  activatedAt: r.activated_at,
  statusChangedAt: r.changed_at,
  statusChangedBy: r.changed_by,
});
