// A primary of this gateway twinned with a secondary of MNO 001-02, as an activation across
// networks leaves it: the primary's object keeps the secondary as "peer:<mcc>-<mnc>:tel:+...".
import { env } from "cloudflare:workers";
import { runInDurableObject } from "cloudflare:test";
import { device, newAddress, type Client } from "../helpers";

export async function crossTwin(client: Client) {
  const primary = await device(client);
  const secondary = newAddress();
  const relationshipId = crypto.randomUUID();
  await runInDurableObject(env.SUBSCRIBERS.getByName(primary.address), (_o, state) =>
    state.storage.sql.exec(
      `INSERT INTO twin (secondary, name, status, version, activation_id, mcc, mnc, activated_at, changed_at, changed_by)
       VALUES (?, 'watch', 'On', 1, ?, '001', '02', ?, ?, 'primary')`,
      `peer:001-02:${secondary}`, relationshipId, Date.now(), Date.now(),
    ),
  );
  return { primary, secondary, relationshipId };
}
