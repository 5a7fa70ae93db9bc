// The subscriber object's one alarm, set to the earliest work any of its stores has due (as
// cloudflare/agents drives its single alarm from one schedule): armed in the same synchronous turn
// as the change that made work due, so it joins that commit, and re-armed as each run ends.
export class AlarmSchedule {
  /** True while a run is in progress: it sets the next alarm itself as it ends. */
  private running = false;
  /**
   * The alarm this instance set: a time, null for none, undefined when not known (a fresh
   * instance). A run of the alarm resets it: the runtime deletes an alarm when its run ends (issue 11).
   */
  private at: number | null | undefined;

  constructor(
    private readonly storage: DurableObjectStorage,
    private readonly nextDue: () => number | undefined,
  ) {}

  /**
   * Sets the alarm to the earliest due work, or deletes it when nothing is due, without awaiting,
   * so that it joins the caller's commit. An alarm already set no later than the earliest due work
   * is left alone: an early run finds nothing due and re-arms, while moving the alarm costs a write
   * of the runtime's alarm store on every change (a toggle would pay one per request).
   */
  arm(): void {
    if (this.running) return;
    const next = this.nextDue();
    if (next === undefined) {
      if (this.at === null) return;
      this.at = null;
      void this.storage.deleteAlarm();
      return;
    }
    if (typeof this.at === "number" && this.at <= next && this.at > Date.now()) return;
    this.at = Math.max(next, Date.now());
    void this.storage.setAlarm(this.at);
  }

  /** One run of the alarm: `work` does what is due, then the alarm is set for what is due next. */
  async run(work: (startedAt: number) => Promise<void>): Promise<void> {
    this.running = true;
    this.at = undefined;
    const startedAt = Date.now();
    try {
      await work(startedAt);
    } finally {
      this.running = false;
      // Strictly after this run's start: the runtime deletes an alarm set to the running one's time with it.
      const next = this.nextDue();
      this.at = next === undefined ? null : Math.max(next, startedAt + 1, Date.now());
      if (this.at !== null) void this.storage.setAlarm(this.at);
    }
  }
}
