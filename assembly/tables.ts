// WBXML token tables of the two languages SyncML DM 1.2 carries.
//   SyncML 1.2  (public id 0x1201, "-//SYNCML//DTD SyncML 1.2//EN"): code page 0 = SyncML, code page 1 = MetInf.
//   DevInf 1.2  (public id 0x1203, "-//SYNCML//DTD DevInf 1.2//EN"): code page 0 = DevInf.
// Source: OMA-TS-SyncML_RepPro-V1_2 §8 (WBXML definition) and OMA-TS-SyncML_MetaInfo-V1_2 §6,
// OMA-TS-DS_DevInf-V1_2 §7; the same tables as libwbxml's wbxml_tables.c, checked token by token
// by the corpus interoperability test (test/e2e/codec-libwbxml.test.ts).
// Each list starts at token 0x05 (0x00-0x04 are WBXML global tokens); "" marks an unassigned token.

// Table ids used everywhere in the module and on the tape: (lang << 1) | page.
export const T_SYNCML: i32 = 0; // lang 0, page 0
export const T_METINF: i32 = 1; // lang 0, page 1
export const T_DEVINF: i32 = 2; // lang 1, page 0
export const TABLES: i32 = 3;

export const LANG_SYNCML: i32 = 0;
export const LANG_DEVINF: i32 = 1;

const SYNCML_P0 =
  "Add Alert Archive Atomic Chal Cmd CmdID CmdRef Copy Cred Data Delete Exec Final Get Item Lang LocName " +
  "LocURI Map MapItem Meta MsgID MsgRef NoResp NoResults Put Replace RespURI Results Search Sequence " +
  "SessionID SftDel Source SourceRef Status Sync SyncBody SyncHdr SyncML Target TargetRef - VerDTD VerProto " +
  "NumberOfChanges MoreData Field Filter Record FilterType SourceParent TargetParent Move Correlator";
const METINF_P1 =
  "Anchor EMI Format FreeID FreeMem Last Mark MaxMsgSize Mem MetInf Next NextNonce SharedMem Size Type " +
  "Version MaxObjSize FieldLevel";
const DEVINF_P0 =
  "CTCap CTType DataStore DataType DevID DevInf DevTyp DisplayName DSMem Ext FwV HwV Man MaxGUIDSize MaxID " +
  "MaxMem Mod OEM ParamName PropName Rx Rx-Pref SharedMem MaxSize SourceRef SwV SyncCap SyncType Tx Tx-Pref " +
  "ValEnum VerCT VerDTD XNam XVal UTC SupportNumberOfChanges SupportLargeObjs Property PropParam MaxOccur " +
  "NoTruncate - Filter-Rx FilterCap FilterKeyword FieldLevel SupportHierarchicalSync";

// Well-known tokens the codec treats specially.
export const TOK_DATA: i32 = 0x0f; // SyncML page 0 <Data>
export const TOK_TYPE: i32 = 0x13; // MetInf page 1 <Type>
export const TOK_DEVINF: i32 = 0x0a; // DevInf page 0 <DevInf>
export const TOK_SYNCML: i32 = 0x2d; // SyncML page 0 <SyncML>

// Name bytes, and per (table, token) the offset and length of the name.
const NAME_BYTES: usize = memory.data(1024);
const NAME_OFF: usize = memory.data(TABLES * 64 * 2); // u16 per entry
const NAME_LEN: usize = memory.data(TABLES * 64); // u8 per entry, 0 = unassigned
// Open-addressing hash tables from name to (table << 8 | token) + 1, one per language.
const HASH_SLOTS: i32 = 256;
const HASH: usize = memory.data(2 * HASH_SLOTS * 2); // u16 per slot

let nameFill: i32 = 0;

export function fnv(ptr: usize, len: i32): u32 {
  let h: u32 = 2166136261;
  for (let i = 0; i < len; i++) {
    h ^= <u32>load<u8>(ptr + <usize>i);
    h *= 16777619;
  }
  return h;
}

function addTable(table: i32, names: string): void {
  let token = 5;
  let start = 0;
  const n = names.length;
  for (let i = 0; i <= n; i++) {
    if (i == n || names.charCodeAt(i) == 32) {
      const len = i - start;
      if (!(len == 1 && names.charCodeAt(start) == 45)) {
        const off = nameFill;
        for (let k = 0; k < len; k++) store<u8>(NAME_BYTES + <usize>(off + k), <u8>names.charCodeAt(start + k));
        nameFill += len;
        store<u16>(NAME_OFF + <usize>((table * 64 + token) * 2), <u16>off);
        store<u8>(NAME_LEN + <usize>(table * 64 + token), <u8>len);
        // Insert into the language's hash table; the first table of a language wins on a name clash.
        const lang = table >> 1;
        let slot = <i32>(fnv(NAME_BYTES + <usize>off, len) & <u32>(HASH_SLOTS - 1));
        for (;;) {
          const at = HASH + <usize>((lang * HASH_SLOTS + slot) * 2);
          const v = <i32>load<u16>(at);
          if (v == 0) {
            store<u16>(at, <u16>(((table << 8) | token) + 1));
            break;
          }
          slot = (slot + 1) & (HASH_SLOTS - 1);
        }
      }
      token++;
      start = i + 1;
    }
  }
}

addTable(T_SYNCML, SYNCML_P0);
addTable(T_METINF, METINF_P1);
addTable(T_DEVINF, DEVINF_P0);

/** Length of the element name of (table, token), 0 when the token is unassigned. */
export function nameLen(table: i32, token: i32): i32 {
  if (token < 5 || token > 63) return 0;
  return <i32>load<u8>(NAME_LEN + <usize>(table * 64 + token));
}

export function namePtr(table: i32, token: i32): usize {
  return NAME_BYTES + <usize>load<u16>(NAME_OFF + <usize>((table * 64 + token) * 2));
}

/** (table << 8 | token) of the element named by the bytes, or -1. */
export function lookup(lang: i32, ptr: usize, len: i32): i32 {
  let slot = <i32>(fnv(ptr, len) & <u32>(HASH_SLOTS - 1));
  for (let probes = 0; probes < HASH_SLOTS; probes++) {
    const v = <i32>load<u16>(HASH + <usize>((lang * HASH_SLOTS + slot) * 2));
    if (v == 0) return -1;
    const id = v - 1;
    const table = id >> 8;
    const token = id & 0xff;
    const nl = nameLen(table, token);
    if (nl == len && memory.compare(namePtr(table, token), ptr, <usize>len) == 0) return id;
    slot = (slot + 1) & (HASH_SLOTS - 1);
  }
  return -1;
}
