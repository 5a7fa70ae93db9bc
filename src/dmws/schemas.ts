// Request and answer schemas of the DM web services shared by the admin and provider routes.
import { z } from "@hono/zod-openapi";
import { ATTRIBUTES, OPERATIONS } from "./access-model";

export const DEV_ID = /^[\x21-\x7e]{1,128}$/;
export const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A management-tree subtree: "." or "./Seg/Seg" (a trailing slash is allowed and dropped). */
export const SUBTREE = /^\.(?:\/[^\s/?#]+)*\/?$/;

export const DevId = z.string().regex(DEV_ID, "a device id (the LocURI the device sends)").openapi({ example: "IMEI:493005100592800" });
export const DevIdParam = z.object({ devId: DevId.openapi({ param: { name: "devId", in: "path" } }) });
export const GroupName = z.string().regex(GROUP_NAME, "letters, digits, '.', '_' and '-', at most 64, starting with a letter or digit").openapi({ example: "acme-phones" });
export const GroupParam = z.object({ name: GroupName.openapi({ param: { name: "name", in: "path" } }) });
export const Subtree = z.string().max(256).regex(SUBTREE, "a management subtree such as ./FUMO or ./Vendor/AppX").openapi({ example: "./FUMO" });
export const OperationSchema = z.enum(OPERATIONS).openapi({ description: "read = Get; write = Add, Replace, Delete, Copy; exec = Exec." });
export const Subscriber = z.string().regex(/^tel:\+[1-9][0-9]{1,14}$/, "tel:+E164").openapi({ example: "tel:+15551230001" });

const attr = z.string().min(1).max(128);
const attributes = {
  manufacturer: attr.optional().openapi({ example: "Simulated Devices Inc." }),
  model: attr.optional().openapi({ example: "SIM-1000" }),
  firmwareVersion: attr.optional().openapi({ example: "1.0.0" }),
  mno: z.string().regex(/^[0-9]{3}-[0-9]{2,3}$/, "MCC-MNC").optional().openapi({ example: "001-01" }),
  subscriber: Subscriber.optional(),
};
export const DeviceAttributesSchema = z.object(attributes).strict().openapi("DmDeviceAttributes");
export const DeviceRecordSchema = z.object({ devId: z.string().openapi({ example: "IMEI:493005100592800" }), ...attributes }).openapi("DmDeviceRecord");

const filterValue = z.union([attr, z.array(attr).min(1).max(100)]);
export const GroupFilterSchema = z
  .object(Object.fromEntries(ATTRIBUTES.map((a) => [a, filterValue.optional()])) as Record<(typeof ATTRIBUTES)[number], z.ZodOptional<typeof filterValue>>)
  .strict()
  .refine((f) => Object.keys(f).length > 0, "at least one attribute")
  .openapi("DmGroupFilter", { description: "Every attribute named must equal the value (or one of the values)." });
export const GroupRequestSchema = z
  .union([
    z.object({ devices: z.array(DevId).max(10_000) }).strict(),
    z.object({ filter: GroupFilterSchema }).strict(),
  ])
  .openapi("DmGroupRequest", { description: "A group is a list of device ids, or a filter over the inventory's device attributes." });
export const GroupSchema = z
  .object({ name: z.string(), devices: z.array(z.string()).optional(), filter: z.record(z.string(), filterValue).optional(), createdAt: z.string().datetime(), resourceURL: z.string().url() })
  .openapi("DmGroup");

export const GrantSchema = z
  .object({
    group: GroupName,
    subtrees: z.array(Subtree).min(1).max(32),
    operations: z.array(OperationSchema).min(1).max(3),
  })
  .strict()
  .openapi("DmGrant");
export const GrantsSchema = z.object({ grants: z.array(GrantSchema).max(100) }).strict().openapi("DmGrants");

export const PageQuery = z.object({
  cursor: z.string().max(256).optional().openapi({ description: "The nextCursor of the page before." }),
  limit: z.coerce.number().int().min(1).max(1000).optional().openapi({ description: "Items per page (default 100)." }),
});
