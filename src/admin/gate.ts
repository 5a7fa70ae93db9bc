// The admin token gate of every capability's admin routes, as route options.
import { requireAdmin } from "../http/auth";

/** Spread into createRoute(): the admin token, its security scheme and the tag. */
export const adminRoute = { middleware: requireAdmin, security: [{ adminToken: [] }], tags: ["Operator admin"] };

export { MAX_PAGE, PageFields, PageQuery, listed, page, unlisted, type Listing } from "./directory";
