// Reference 1, the runtime's limit for a request: an empty Hono route that answers a small JSON
// body. Same runtime, same workerd process and same load as the gateway's benchmarks.
import { Hono } from "hono";

const app = new Hono();
app.get("/empty", (c) => c.json({ ok: true }));

export default app;
