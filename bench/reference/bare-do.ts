// Reference 2, the storage limit: a Worker (Hono, like the gateway) in front of a bare SQLite
// Durable Object, reached by name over RPC the way the gateway reaches its objects. Per request the
// object does one SQLite read (GET /read/:name) or one transactional write (PUT /write/:name).
import { DurableObject } from "cloudflare:workers";
import { Hono } from "hono";

interface Env {
  BARE: DurableObjectNamespace<BareObject>;
}

interface Row extends Record<string, SqlStorageValue> {
  n: number;
  at: number;
}

export class BareObject extends DurableObject<Env> {
  private readonly sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    this.sql.exec("CREATE TABLE IF NOT EXISTS counter (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL, at INTEGER NOT NULL)");
    this.sql.exec("INSERT OR IGNORE INTO counter (id, n, at) VALUES (1, 0, 0)");
  }

  /** One SQLite read. */
  async read(): Promise<Row> {
    return this.sql.exec<Row>("SELECT n, at FROM counter WHERE id = 1").one();
  }

  /** One transactional write (transactionSync, as the gateway's objects write). */
  async write(): Promise<{ n: number }> {
    return this.ctx.storage.transactionSync(() => {
      this.sql.exec("UPDATE counter SET n = n + 1, at = ? WHERE id = 1", Date.now());
      return { n: 1 };
    });
  }
}

const app = new Hono<{ Bindings: Env }>();
app.get("/read/:name", async (c) => c.json(await c.env.BARE.getByName(c.req.param("name")).read()));
app.put("/write/:name", async (c) => c.json(await c.env.BARE.getByName(c.req.param("name")).write()));

export default app;
