// The list of campaigns (one object, "campaigns"): which exist, whose they are, newest first. The
// campaigns themselves live in their own objects (./campaign-object.ts); this only finds them.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../../env";
import { LazySchema } from "../../http/sql";

export interface CampaignEntry {
  campaignId: string;
  owner: string;
  name?: string;
  createdAt: number;
}

const STEPS = [`CREATE TABLE campaign (seq INTEGER PRIMARY KEY, campaign_id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, name TEXT, created_at INTEGER NOT NULL);
  CREATE INDEX campaign_by_owner ON campaign (owner, seq)`];

export class CampaignDirectoryObject extends DurableObject<Env> {
  private readonly schema: LazySchema;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.schema = new LazySchema(ctx, STEPS);
  }

  async register(e: CampaignEntry): Promise<void> {
    this.schema.ensure();
    this.ctx.storage.sql.exec("INSERT OR IGNORE INTO campaign (campaign_id, owner, name, created_at) VALUES (?, ?, ?, ?)", e.campaignId, e.owner, e.name ?? null, e.createdAt);
  }

  /** Newest first; of one owner when given (a provider), all for the operator. `before`: a cursor from the previous page. */
  async list(opts: { owner?: string; before?: number; limit: number }): Promise<{ campaigns: CampaignEntry[]; next?: number }> {
    if (!this.schema.exists) return { campaigns: [] };
    const rows = this.ctx.storage.sql.exec<{ seq: number; campaign_id: string; owner: string; name: string | null; created_at: number }>(
      "SELECT * FROM campaign WHERE (? IS NULL OR owner = ?) AND seq < ? ORDER BY seq DESC LIMIT ?",
      opts.owner ?? null, opts.owner ?? null, opts.before ?? Number.MAX_SAFE_INTEGER, opts.limit + 1).toArray();
    const page = rows.slice(0, opts.limit);
    return {
      campaigns: page.map((r) => ({ campaignId: r.campaign_id, owner: r.owner, ...(r.name !== null ? { name: r.name } : {}), createdAt: r.created_at })),
      ...(rows.length > opts.limit ? { next: page.at(-1)!.seq } : {}),
    };
  }
}
