// The service providers' API, under /dmws/v1: what the provider's grant covers, and (./operation-routes.ts)
// the high-level operations it runs on those devices. A provider sees only the devices its grants cover.
import { createRoute, z } from "@hono/zod-openapi";
import { router } from "../http/app";
import { errorResponses, json } from "../http/schemas";
import { authorize } from "./access";
import { registry } from "./groups";
import { providerOf, providerSecurity } from "./provider-auth";
import { DeviceRecordSchema, DevIdParam, GrantsSchema, PageQuery } from "./schemas";

export const DMWS_ROOT = "/dmws/v1";
export const dmwsRoutes = router();
const provider = { ...providerSecurity, tags: ["DM web services: provider"] };

dmwsRoutes.openapi(
  createRoute({
    method: "get",
    path: `${DMWS_ROOT}/grants`,
    summary: "The calling provider's grants: device groups, subtrees and operations",
    ...provider,
    responses: { 200: json(GrantsSchema, "The grants"), ...errorResponses(401, 403) },
  }),
  async (c) => c.json({ grants: await registry(c.env).grants(providerOf(c)) }, 200),
);

dmwsRoutes.openapi(
  createRoute({
    method: "get",
    path: `${DMWS_ROOT}/devices`,
    summary: "The devices the provider's grants cover, in devId order, a page at a time",
    ...provider,
    request: { query: PageQuery },
    responses: { 200: json(z.object({ devices: z.array(DeviceRecordSchema), nextCursor: z.string().optional() }), "One page of devices"), ...errorResponses(400, 401, 403) },
  }),
  async (c) => {
    const q = c.req.valid("query");
    const page = await registry(c.env).coveredDevices(providerOf(c), q.cursor, q.limit ?? 100);
    return c.json({ devices: page.items, ...(page.nextCursor ? { nextCursor: page.nextCursor } : {}) }, 200);
  },
);

dmwsRoutes.openapi(
  createRoute({
    method: "get",
    path: `${DMWS_ROOT}/devices/{devId}`,
    summary: "A device the provider's grants cover (403 naming the device otherwise)",
    ...provider,
    request: { params: DevIdParam },
    responses: { 200: json(z.object({ device: DeviceRecordSchema }), "The device"), ...errorResponses(401, 403) },
  }),
  async (c) => {
    const { devId } = c.req.valid("param");
    await authorize(c.env, providerOf(c), [devId], ".", [], `GET ${DMWS_ROOT}/devices/{devId}`);
    return c.json({ device: (await registry(c.env).deviceRecord(devId)) ?? { devId } }, 200);
  },
);
