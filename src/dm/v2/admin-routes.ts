// Operator API for DM accounts: the account that owns DM 2.0 devices, and whose credentials its
// devices and their users' browsers log in with. Of the password only what verification needs is
// kept (a PBKDF2 hash for Basic, the RFC 7616 SHA-256 HA1 for Digest).
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { router } from "../../http/app";
import { requireAdmin } from "../../http/auth";
import { notFound } from "../../http/errors";
import { errorResponses, json } from "../../http/schemas";
import { ACCOUNT_ID } from "./auth";
import type { AccountRecord } from "./credential-store";

export const dm2AdminRoutes = router();

const AccountIdParam = z.object({
  accountId: z.string().regex(ACCOUNT_ID, "1-64 of A-Z a-z 0-9 . _ ~ -").openapi({ param: { name: "accountId", in: "path" }, example: "acme-fleet" }),
});
const DmAccountRequestSchema = z
  .object({
    password: z.string().min(12).max(256).openapi({ description: "The account's password (user name = accountId). Never stored or returned: only a PBKDF2-SHA-256 hash and the Digest HA1 are kept." }),
    subscriber: z.string().regex(/^tel:\+[1-9][0-9]{1,14}$/, "a tel: URI with an E.164 number").optional().openapi({ description: "The subscriber this account belongs to, if any." }),
  })
  .strict()
  .openapi("DmAccountRequest");
const DmAccountSchema = z
  .object({
    dmAccount: z.object({ accountId: z.string(), subscriber: z.string().optional(), createdAt: z.string().datetime(), updatedAt: z.string().datetime(), resourceURL: z.string().url() }),
  })
  .openapi("DmAccount");

const view = (c: Context<AppEnv>, a: AccountRecord) => ({
  dmAccount: {
    accountId: a.accountId,
    ...(a.subscriber ? { subscriber: a.subscriber } : {}),
    createdAt: new Date(a.createdAt).toISOString(),
    updatedAt: new Date(a.updatedAt).toISOString(),
    resourceURL: `${new URL(c.req.url).origin}/admin/v1/dm-accounts/${encodeURIComponent(a.accountId)}`,
  },
});
const admin = { middleware: requireAdmin, security: [{ adminToken: [] }], tags: ["Operator admin"] };

dm2AdminRoutes.openapi(
  createRoute({
    method: "put",
    path: "/admin/v1/dm-accounts/{accountId}",
    summary: "Create (or update) a DM account: the owner of DM 2.0 devices and the credentials they log in with",
    description: "The account's user name for HTTP Basic and Digest (RFC 7616, SHA-256) is its accountId. A new password ends every outstanding Digest nonce.",
    ...admin,
    request: { params: AccountIdParam, body: { required: true, content: { "application/json": { schema: DmAccountRequestSchema } } } },
    responses: { 201: json(DmAccountSchema, "Created"), 200: json(DmAccountSchema, "Updated"), ...errorResponses(400, 401, 413, 415) },
  }),
  async (c) => {
    const { accountId } = c.req.valid("param");
    const { password, subscriber } = c.req.valid("json");
    const { created, account } = await c.env.DM_ACCOUNTS.getByName(accountId).putAccount(accountId, password, subscriber);
    return created ? c.json(view(c, account), 201) : c.json(view(c, account), 200);
  },
);

dm2AdminRoutes.openapi(
  createRoute({
    method: "get",
    path: "/admin/v1/dm-accounts/{accountId}",
    summary: "A DM account",
    ...admin,
    request: { params: AccountIdParam },
    responses: { 200: json(DmAccountSchema, "The account"), ...errorResponses(401, 404) },
  }),
  async (c) => {
    const { accountId } = c.req.valid("param");
    const account = await c.env.DM_ACCOUNTS.getByName(accountId).account();
    if (!account) throw notFound("accountId", accountId);
    return c.json(view(c, account), 200);
  },
);

dm2AdminRoutes.openapi(
  createRoute({
    method: "delete",
    path: "/admin/v1/dm-accounts/{accountId}",
    summary: "Remove a DM account; its devices are unregistered (their jobs stay with the devices)",
    ...admin,
    request: { params: AccountIdParam },
    responses: { 204: { description: "Removed" }, ...errorResponses(401, 404) },
  }),
  async (c) => {
    const { accountId } = c.req.valid("param");
    const devices = await c.env.DM_ACCOUNTS.getByName(accountId).removeAccount();
    if (!devices) throw notFound("accountId", accountId);
    return c.body(null, 204);
  },
);
