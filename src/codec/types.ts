// The typed SyncML DM 1.2 message (OMA-TS-DM_RepPro-V1_2 §6, the SyncML 1.2 DTD): what the codec
// decodes XML and WBXML into and encodes from. Identifiers (SessionID, MsgID, CmdID, refs) stay
// strings: they are opaque on the wire ("0" and hex session ids are both legal). Element order on
// encoding follows the DTD, whatever order the fields were written in.

export type Encoding = "xml" | "wbxml";

export interface LocRef {
  locURI: string;
  locName?: string;
}

export interface Anchor {
  last?: string;
  next: string;
}

export interface Mem {
  sharedMem?: boolean;
  freeMem: number;
  freeId: number;
}

/** MetInf (OMA-TS-SyncML_MetaInfo-V1_2), code page 1 in WBXML, xmlns="syncml:metinf" in XML. */
export interface Meta {
  format?: string;
  /**
   * MIME type. For embedded DevInf and TNDS documents always the "+xml" form: the encoder writes
   * "+wbxml" in WBXML messages, as libwbxml and DM/DS peers do.
   */
  type?: string;
  mark?: string;
  size?: number;
  anchor?: Anchor;
  version?: string;
  nextNonce?: string;
  maxMsgSize?: number;
  maxObjSize?: number;
  emi?: string[];
  mem?: Mem;
  fieldLevel?: boolean;
}

export interface Cred {
  meta?: Meta;
  data: string;
}

export interface Chal {
  meta: Meta;
}

/** A generic element, for DevInf documents (embedded in <Data> or on their own). */
export interface XmlElement {
  name: string;
  children: (XmlElement | string)[];
}

/** Item data: text, opaque bytes (WBXML OPAQUE, e.g. a binary large-object chunk) or embedded DevInf. */
export type ItemData = string | Uint8Array | XmlElement;

export interface Item {
  target?: LocRef;
  source?: LocRef;
  sourceParent?: LocRef;
  targetParent?: LocRef;
  meta?: Meta;
  data?: ItemData;
  /** <MoreData/>: this item is a chunk of a large object and more chunks follow (§7 large objects). */
  moreData?: boolean;
}

export interface SyncHdr {
  verDTD: string;
  verProto: string;
  sessionId: string;
  msgId: string;
  target: LocRef;
  source: LocRef;
  respURI?: string;
  noResp?: boolean;
  cred?: Cred;
  meta?: Meta;
}

interface CommandBase {
  cmdId: string;
  noResp?: boolean;
}

export interface Alert extends CommandBase {
  kind: "Alert";
  cred?: Cred;
  data?: string;
  correlator?: string;
  items: Item[];
}

export interface ItemCommand extends CommandBase {
  cred?: Cred;
  meta?: Meta;
  items: Item[];
}

export interface Add extends ItemCommand { kind: "Add" }
export interface Replace extends ItemCommand { kind: "Replace" }
export interface Copy extends ItemCommand { kind: "Copy" }
export interface Delete extends ItemCommand {
  kind: "Delete";
  archive?: boolean;
  sftDel?: boolean;
}
export interface Get extends ItemCommand {
  kind: "Get";
  lang?: string;
}
export interface Exec extends ItemCommand {
  kind: "Exec";
  correlator?: string;
}

export interface Atomic extends CommandBase {
  kind: "Atomic";
  meta?: Meta;
  commands: Command[];
}

export interface Sequence extends CommandBase {
  kind: "Sequence";
  meta?: Meta;
  commands: Command[];
}

export interface Results {
  kind: "Results";
  cmdId: string;
  msgRef?: string;
  cmdRef: string;
  meta?: Meta;
  targetRef?: string;
  sourceRef?: string;
  items: Item[];
}

export interface Status {
  kind: "Status";
  cmdId: string;
  msgRef: string;
  cmdRef: string;
  /** The name of the command this status answers ("SyncHdr", "Alert", "Replace", ...). */
  cmd: string;
  targetRefs?: string[];
  sourceRefs?: string[];
  cred?: Cred;
  chal?: Chal;
  /** The status code, e.g. "200", "212", "401", "407". */
  data: string;
  items?: Item[];
}

export type Command = Alert | Add | Replace | Copy | Delete | Get | Exec | Atomic | Sequence | Results | Status;

export interface SyncMLMessage {
  header: SyncHdr;
  body: Command[];
  final?: boolean;
}

/** Package 0 (OMA-TS-DM_Notification-V1_2 §6). */
export type UiMode = "not-specified" | "background" | "informative" | "user-interaction";

export interface Package0Fields {
  /** The DM version times ten: 12 for DM 1.2 (10 bits). */
  version?: number;
  uiMode: UiMode;
  initiator: "client" | "server";
  /** 16-bit session id; the DM session's SessionID is its hex form. */
  sessionId: number;
  serverId: string;
  vendor?: Uint8Array;
}

export interface Package0 extends Required<Omit<Package0Fields, "vendor">> {
  vendor: Uint8Array;
  digest: Uint8Array;
  /** The 27 future-use bits, zero from conforming servers. */
  futureUse: number;
}
