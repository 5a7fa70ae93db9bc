// The one retry schedule of the gateway: exponential backoff with jitter, for every queue that
// retries a delivery (outbox messages between objects, notifications, calls to peers).

/**
 * How long to wait before attempt `attempts + 1`: `baseMs · 2^attempts`, at most `maxMs`, then
 * 50–100 % of that at random ("equal jitter"), so that many retries started together spread out.
 */
export function backoffDelay(attempts: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempts, 30));
  return ceiling * (0.5 + Math.random() / 2);
}
