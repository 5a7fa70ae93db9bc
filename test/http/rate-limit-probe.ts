// Test helpers for limits on the Workers Rate Limiting binding. The local simulator counts in fixed
// windows aligned to the wall clock (epoch = floor(now / period)), so a test that must stay inside
// one window waits for a fresh one when the current one is about to end.
import wranglerToml from "../../wrangler.toml?raw";

/** A binding's `simple = { limit, period }` as wrangler.toml sets it, so tests follow the setting. */
export function configuredLimit(name: string): { limit: number; period: number } {
  const block = wranglerToml.split("[[ratelimits]]").find((b) => new RegExp(`^\\s*name\\s*=\\s*"${name}"`, "m").test(b));
  const m = block?.match(/simple\s*=\s*\{\s*limit\s*=\s*(\d+)\s*,\s*period\s*=\s*(\d+)\s*\}/);
  if (!m) throw new Error(`no [[ratelimits]] ${name} in wrangler.toml`);
  return { limit: Number(m[1]), period: Number(m[2]) };
}

/** Counts `n` requests for `key` directly on the binding. */
export async function spend(binding: RateLimit, key: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await binding.limit({ key });
}

/** Waits, if needed, so that at least `needMs` remain in the current `period`-second window. */
export async function inFreshWindow(period: number, needMs = 3000): Promise<void> {
  const left = period * 1000 - (Date.now() % (period * 1000));
  if (left < needMs) await new Promise((r) => setTimeout(r, left + 50));
}

/** Spends what is left of `key`'s budget directly on the binding; returns how many were allowed. */
export async function exhaust(binding: RateLimit, key: string, max = 100_000): Promise<number> {
  let allowed = 0;
  while (allowed < max && (await binding.limit({ key })).success) allowed += 1;
  return allowed;
}

/**
 * Runs `attempt` until one run starts and ends in the same `period`-second window (a loaded machine
 * can make a run straddle two), and returns that run's result.
 */
export async function inOneWindow<T>(period: number, attempt: () => Promise<T>, tries = 4): Promise<T> {
  const windowOf = () => Math.floor(Date.now() / (period * 1000));
  for (let i = 1; ; i++) {
    await inFreshWindow(period);
    const start = windowOf();
    const result = await attempt();
    if (windowOf() === start || i >= tries) return result;
  }
}
