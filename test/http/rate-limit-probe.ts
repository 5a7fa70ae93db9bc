// Test helpers for limits on the Workers Rate Limiting binding. The local simulator counts in fixed
// windows aligned to the wall clock (epoch = floor(now / period)), so a test that must stay inside
// one window waits for a fresh one when the current one is about to end.

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
