// The admin token's brute-force guard (http/auth.ts AdminGuard): wrong admin tokens are counted per
// address in the audit log's object, and an address that made AUTH_FAILURE_LIMIT of them within
// AUTH_FAILURE_LOCK_SECONDS is refused (429), even with the right token, until the lock ends.
import type { AdminGuard } from "../http/auth";
import { config } from "../config";

const auditObject = (env: Cloudflare.Env) => env.AUDIT.getByName("audit");

export const adminGuard: AdminGuard = {
  lockedFor: (env, address) => auditObject(env).adminLockedFor(address),
  failed: (env, address) => {
    const { AUTH_FAILURE_LIMIT: limit, AUTH_FAILURE_LOCK_SECONDS: lockSeconds } = config(env);
    return auditObject(env).adminTokenFailed(address, { limit, lockSeconds });
  },
};
