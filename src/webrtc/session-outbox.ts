// The outbox of one call session: the notifications and Busy marks each transition wrote, in that
// transition's transaction (session-store.ts emit/emitCallState), carried to each target device's
// SignalingUserObject. In order per device: a head that failed waits for its retry (the gateway's
// backoff) and everything behind it for that device waits with it, so a device never hears a
// cancel before its invitation. Devices are served side by side. Each message carries an id made
// of the session and its row, so a message handed over twice (a lost answer) is taken once.
import type { Env } from "../env";
import { backoffDelay } from "../http/backoff";
import { CALL_STATE, type OutboxRow, type SessionStore } from "./session-store";

/** A message that cannot reach a device's object is dropped after this long: stale signaling is useless. */
const GIVE_UP_MS = 10 * 60_000;
const RETRY_BASE_MS = 500;
const RETRY_MAX_MS = 60_000;

export class SessionOutbox {
  private draining?: Promise<void>;

  constructor(
    private readonly store: SessionStore,
    private readonly sql: SqlStorage,
    private readonly env: Env,
  ) {}

  /** Delivers what is due. One drain at a time (requests and the alarm alike), so order per device holds. */
  async drain(): Promise<void> {
    while (this.draining) await this.draining;
    this.draining = this.drainOnce().finally(() => (this.draining = undefined));
    await this.draining;
  }

  private async drainOnce(): Promise<void> {
    if (!this.store.exists()) return;
    const sessionId = this.store.session()!.session_id;
    const byTarget = new Map<string, OutboxRow[]>();
    for (const row of this.store.outbox()) byTarget.set(row.target, [...(byTarget.get(row.target) ?? []), row]);
    await Promise.all([...byTarget.values()].map((rows) => this.deliverInOrder(sessionId, rows)));
  }

  private async deliverInOrder(sessionId: string, rows: OutboxRow[]): Promise<void> {
    for (const row of rows) {
      // A head waiting for its retry holds back what is behind it.
      if (row.next_at > Date.now()) return;
      try {
        const user = this.env.SIGNALING_USERS.getByName(row.target);
        const id = `${sessionId}/${row.id}`;
        if (row.root === CALL_STATE) await user.callState(id, sessionId, (JSON.parse(row.fields) as { connected: boolean }).connected);
        else await user.signal(id, row.root, JSON.parse(row.fields));
        this.sql.exec("DELETE FROM outbox WHERE id = ?", row.id);
      } catch (err) {
        if (Date.now() - row.first_at > GIVE_UP_MS) {
          console.warn(`signaling notification for a session dropped after ${row.attempts + 1} attempts`);
          this.sql.exec("DELETE FROM outbox WHERE id = ?", row.id);
          continue;
        }
        const delay = backoffDelay(row.attempts, RETRY_BASE_MS, RETRY_MAX_MS);
        this.sql.exec("UPDATE outbox SET attempts = attempts + 1, next_at = ? WHERE id = ?", Math.round(Date.now() + delay), row.id);
        console.warn(`signaling notification delivery failed, attempt ${row.attempts + 1}: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
  }
}
