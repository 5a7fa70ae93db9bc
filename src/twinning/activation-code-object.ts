// The activation-code index (HLF-TE-005): a fixed set of buckets, objects named "bucket:<n>" (in
// activation-code-index.ts, which hashes the code and picks the bucket), each holding the live codes
// of its share of the code space (activation-code-bucket.ts). Issuing a code is one commit in its
// bucket, spending it one more, and a guess writes nothing.
//
// The same class still answers, until they are gone, the objects of the previous scheme: one per
// live code, named by the code (activation-code-legacy.ts). The two never share an object: a bucket
// name is not a code. Which one an instance is, it tells from its tables, so the alarm of either
// does the right thing.
import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { hasTable, migrateStores } from "../http/sql";
import { CODE_BUCKET_SCHEMA, CodeBucket, type IssuedCode, type Redemption } from "./activation-code-bucket";
import { LegacyCodeObject } from "./activation-code-legacy";
import { isBucketName, redeemInBucket, revokeInBucket } from "./activation-code-index";

export type { IssuedCode, Redemption } from "./activation-code-bucket";

export class ActivationCodeObject extends DurableObject<Env> {
  private readonly bucket: CodeBucket;
  private readonly legacy: LegacyCodeObject;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const written = hasTable(ctx.storage.sql, "bucket_code");
    // Applied at start only to a bucket that has storage; a bucket gets it with its first write, and
    // an object that was only named (a guessed code, an old object) gets none.
    if (written) migrateStores(ctx, [CODE_BUCKET_SCHEMA]);
    this.bucket = new CodeBucket(ctx.storage, written, () => migrateStores(ctx, [CODE_BUCKET_SCHEMA]));
    this.legacy = new LegacyCodeObject(ctx.storage);
    // Whether the clean-up alarm is set is only known asynchronously; a bucket that has none is
    // armed by its next issue, one that has one is left alone (an alarm write per instance start otherwise).
    if (written) void ctx.blockConcurrencyWhile(async () => this.bucket.alarmFound(await ctx.storage.getAlarm()));
  }

  // ---------------------------------------------------------------- a bucket ("bucket:<n>")

  /** Binds the code with this hash to the secondary unless another live code has it. False on collision. */
  async issueInBucket(hash: string, code: IssuedCode): Promise<boolean> {
    return this.bucket.issue(hash, code);
  }

  /** Spends the code for `primary` (one-time); its own code is refused without spending it. */
  async redeemInBucket(hash: string, primary: string): Promise<Redemption> {
    return this.bucket.redeem(hash, primary);
  }

  /** Revokes the code if `secondary` still holds it; whether it did. */
  async revokeInBucket(hash: string, secondary: string): Promise<boolean> {
    return this.bucket.revoke(hash, secondary);
  }

  // ---------------------------------------------------------------- an object named by a code (previous scheme)

  /** The fallback of the new index: the code, if this object of the previous scheme holds it live. */
  async redeemLegacy(primary: string): Promise<Redemption> {
    return (await this.legacy.redeem(primary)) ?? { outcome: "invalid" };
  }

  async revokeLegacy(secondary: string): Promise<boolean> {
    return this.legacy.revoke(secondary);
  }

  /** The previous version's RPC, for its Workers during a gradual deployment: a code in this object. */
  async issue(code: IssuedCode): Promise<boolean> {
    return this.legacy.issue(code);
  }

  /**
   * The previous version's RPC: the code named by this object, here or (issued by the new version)
   * in its bucket, so that a Worker of either version redeems a code the other issued.
   */
  async redeem(primary: string): Promise<Redemption> {
    const here = await this.legacy.redeem(primary);
    if (here) return here;
    const code = this.ctx.id.name;
    return code && !isBucketName(code) ? redeemInBucket(this.env, code, primary) : { outcome: "invalid" };
  }

  /** The previous version's RPC: revokes the code named by this object, here or in its bucket. */
  async revoke(secondary: string): Promise<void> {
    if (await this.legacy.revoke(secondary)) return;
    const code = this.ctx.id.name;
    if (code && !isBucketName(code)) await revokeInBucket(this.env, code, secondary);
  }

  override async alarm(): Promise<void> {
    if (this.legacy.exists()) return this.legacy.alarm();
    this.bucket.sweep();
  }
}
