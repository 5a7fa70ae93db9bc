// The alarm of an object whose due work lives in its own storage (the notification queue's
// deliveries, and whatever else the object keeps due): the rules the subscriber object's alarm
// follows since issue 11, for every object that owns a NotificationQueue.
// - The time comes from storage (`nextDue()`), never from a copy in memory: the runtime deletes an
//   alarm when a run of it ends, and an alarm set during a run to that run's own time goes with it.
// - A request arms it after its change (a lost alarm is re-armed there: the next change finds the
//   work due and sets it again), but leaves it alone while a run is under way: the run re-arms as it
//   ends, strictly after its own start.
export class DueAlarm {
  private running = false;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly nextDue: () => number | undefined,
  ) {}

  /**
   * Sets the alarm to the earliest due work, or deletes it when nothing is due; not awaited, so it
   * joins the caller's commit. Does nothing while a run is under way.
   */
  arm(): void {
    if (this.running) return;
    const next = this.nextDue();
    if (next === undefined) void this.storage.deleteAlarm();
    else void this.storage.setAlarm(Math.max(next, Date.now()));
  }

  /** Runs the alarm's `work`, then re-arms for what is still due (failed work included). */
  async run(work: () => Promise<void>): Promise<void> {
    this.running = true;
    const startedAt = Date.now();
    try {
      await work();
    } finally {
      this.running = false;
      const next = this.nextDue();
      if (next !== undefined) void this.storage.setAlarm(Math.max(next, startedAt + 1, Date.now()));
    }
  }
}
