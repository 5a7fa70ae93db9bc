// The alarm of an object whose due work lives in its own storage (the notification queue's
// deliveries, a call session's outbox and timeouts): the rules every object that owns a
// NotificationQueue follows since issue 11.
// - The time comes from storage (`nextDue()`), never from a copy in memory: the runtime deletes an
//   alarm when a run of it ends, and an alarm set during a run to that run's own time goes with it.
// - One run at a time, whether the runtime's alarm started it or a request did (`runNow`): a run
//   goes round again for work queued while it ran, so what one run is doing is never done twice
//   at once and order per target holds.
// - A request arms it after its change (a lost alarm is re-armed there: the next change finds the
//   work due and sets it again), but leaves it alone while a run is under way: the run re-arms as it
//   ends, strictly after its own start.
export class DueAlarm {
  private inFlight?: Promise<void>;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly nextDue: () => number | undefined,
  ) {}

  /**
   * Sets the alarm to the earliest due work, or deletes it when nothing is due; not awaited, so it
   * joins the caller's commit. Does nothing while a run is under way.
   */
  arm(): void {
    if (this.inFlight) return;
    const next = this.nextDue();
    if (next === undefined) void this.storage.deleteAlarm();
    else void this.storage.setAlarm(Math.max(next, Date.now()));
  }

  /** Runs `work` (after the run under way, if any), then re-arms for what is still due (failed work included). */
  async run(work: () => Promise<void>): Promise<void> {
    while (this.inFlight) await this.inFlight.catch(() => undefined);
    const startedAt = Date.now();
    const running = (async () => {
      // The body starts after `running` is assigned below: a `work` that throws (or ends) at once would
      // otherwise clear the mark before it is set, leaving a settled run that every later run waits on.
      await null;
      try {
        await work();
      } finally {
        this.inFlight = undefined;
        const next = this.nextDue();
        if (next !== undefined) void this.storage.setAlarm(Math.max(next, startedAt + 1, Date.now()));
      }
    })();
    this.inFlight = running;
    await running;
  }

  /**
   * From a request that just queued work: does it now instead of waiting for the alarm to be
   * scheduled (the alarm stays armed as the fallback, and for retries). Not awaited: the request
   * answers once its change is committed. A run under way takes the new work itself.
   */
  runNow(work: () => Promise<void>): void {
    if (this.inFlight) return;
    this.run(work).catch((err: unknown) => console.error(`delivery run failed: ${err instanceof Error ? err.message : String(err)}`));
  }
}
