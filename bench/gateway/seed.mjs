// The state the benchmarks run on, made through the gateway's real HTTP API with the admin token.
import { pool } from "./client.mjs";
import { seedDmDevices } from "./dm.mjs";

const RUN = "7"; // address prefix; each run has its own storage anyway
const idle = () => new Promise((r) => setTimeout(r, 12_000));

/**
 * `subscribers` twinned pairs (primary + secondary, one twin each) for the read and toggle paths,
 * one hot primary with `hotTwins` twins, and `activationPrimaries` fresh primaries for activation
 * (their secondaries come from topUpActivationPool), and `dmDevices` DM devices (auth-basic accounts,
 * no job yet: the DM benchmark queues one per session).
 */
export async function seed(gw, { subscribers, hotTwins, activationPrimaries, dmDevices = 0, campaignDevices = 0, concurrency }) {
  const client = await gw.registerClient();
  const device = () => gw.device(client, RUN);
  const primaries = await pool(subscribers, concurrency, device);
  const secondaries = await pool(subscribers, concurrency, device);
  const pairs = primaries.map((primary, i) => ({ primary, secondary: secondaries[i] }));
  await pool(subscribers, concurrency, (i) => gw.twin(pairs[i].primary, pairs[i].secondary, "watch"));

  const hotPrimary = await device();
  const hotSecondaries = await pool(hotTwins, concurrency, device);
  await pool(hotTwins, Math.min(concurrency, 4), (i) => gw.twin(hotPrimary, hotSecondaries[i], `h${i}`));

  const activationPrimariesList = await pool(activationPrimaries, concurrency, device);
  // Local workerd keeps every object it opened for ~10 s after its last request, each with its own
  // SQLite database; past about 1,800 live objects SQLite runs out of memory (SQLITE_NOMEM). The
  // twins' objects are let go before the DM devices' objects are opened, and those before the runs.
  const many = dmDevices + campaignDevices > 0;
  if (many) await idle();
  const dm = { devices: await seedDmDevices(gw, dmDevices, concurrency, RUN) };
  // The campaign benchmark's devices (each runs one session per campaign): their own ids.
  const campaign = { devices: await seedDmDevices(gw, campaignDevices, concurrency, "8") };
  if (many) await idle();
  return {
    dm,
    campaign,
    client,
    pairs,
    hot: { primary: hotPrimary, secondaries: hotSecondaries },
    activation: { primaries: activationPrimariesList, pool: [] },
  };
}

/** Fresh secondaries (provisioned, with a token) until the pool holds `size`. */
export async function topUpActivationPool(gw, seeded, size, concurrency) {
  const missing = size - seeded.activation.pool.length;
  if (missing <= 0) return 0;
  const fresh = await pool(missing, concurrency, () => gw.device(seeded.client, RUN));
  seeded.activation.pool.push(...fresh);
  return missing;
}
