// A read replica of one client's credential: what client authentication at the token endpoint reads
// (the registration and the SHA-256 of the secret), held in the memory of one of the client's replica
// objects (OAUTH_CLIENTS named by clientReplicaName, object-names.ts) so that token requests do not all
// meet at the client's own object (issue 13: that one object was the largest cost of a token and a
// ceiling of ~1k requests/s per client). The client's own object stays the source of truth and keeps
// everything that is written per request (authorization codes, assertion jtis, revoked tokens).
//
// Consistency. The replica never writes storage: its copy lives in memory, is pulled from the primary
// with one RPC on a miss, and is used for at most REPLICA_LEASE_MS from the moment the pull was sent.
// Every change of what authentication decides (rotateSecret, deregister, a new brute-force lock; register only ever writes a
// fresh client_id that no request can have named before) is made by the primary, which then calls
// `invalidate()` on every replica and returns to the admin only after they answered. `invalidate`
// drops the copy and starts a new epoch; a pull sent in an older epoch is discarded when it returns,
// because the primary may have served it before the change. A pull sent in the current epoch was sent
// after this replica received the invalidation, which the primary sent after its change committed
// (an object's outgoing calls wait for its writes), so the primary serves it after the change: its
// answer is current. Hence: once rotateSecret/deregister has returned, every replica either holds no
// copy or one pulled after the change, and the old secret / the removed client authenticates nowhere.
// The epoch does what a version number at the primary would, without a stored version (deregister's
// deleteAll would erase it) and without a schema step.
//
// A replica the primary could not reach keeps its copy at most until its lease ends, i.e. at most
// REPLICA_LEASE_MS after the change (the copy was pulled before it); the primary then waits that long
// before answering (client-object.ts), so the bound above holds for the admin call's return too. If
// the primary itself fails between its commit and the invalidations, the admin call fails and the old
// credential may work at a replica for at most REPLICA_LEASE_MS; the operator retries the call.
import type { RegisteredClient } from "./client-object";

/** How long a replica uses a copy before pulling again; also the bound for an unreachable replica. */
export const REPLICA_LEASE_MS = 30_000;
/** Pulls discarded in a row (invalidations racing them) before the request asks the primary itself. */
const PULL_ATTEMPTS = 3;

/** What the primary hands a replica: the registration and the hash of its secret, never the secret. */
export interface ClientCredential {
  /** Undefined: no client is registered under this id (never was, or was removed). */
  client?: RegisteredClient;
  secretHash?: Uint8Array;
  /** Addresses locked out for guessing the secret (failure-ledger.ts), with when each lock ends (ms). */
  locks?: Record<string, number>;
}

export class CredentialReplica {
  private copy: { credential: ClientCredential; until: number } | undefined;
  private epoch = 0;
  /** The pull in flight, shared by the requests of its epoch that missed (one RPC, not one each). */
  private pulling: { epoch: number; done: Promise<void> } | undefined;

  constructor(
    readonly clientId: string,
    private readonly pull: () => Promise<ClientCredential>,
  ) {}

  /**
   * The current copy, pulled if there is none or its lease ended; undefined when invalidations kept
   * discarding the pulls, and the caller must ask the primary. Callers decide on the copy without an
   * await in between, so an invalidation processed before their decision is always seen.
   */
  async current(): Promise<ClientCredential | undefined> {
    for (let attempt = 0; attempt < PULL_ATTEMPTS; attempt++) {
      const copy = this.copy;
      if (copy && Date.now() < copy.until) return copy.credential;
      this.copy = undefined;
      await this.startPull();
    }
    return undefined;
  }

  /** The primary changed the credential: forget the copy, and any answer to a pull sent before now. */
  invalidate(): void {
    this.epoch++;
    this.copy = undefined;
    this.pulling = undefined;
  }

  private startPull(): Promise<void> {
    const epoch = this.epoch;
    if (this.pulling?.epoch === epoch) return this.pulling.done;
    const sentAt = Date.now(); // the lease runs from before the primary answered
    const done = this.pull().then(
      (credential) => {
        if (this.epoch === epoch) this.copy = { credential, until: sentAt + REPLICA_LEASE_MS };
      },
    ).finally(() => {
      if (this.pulling?.done === done) this.pulling = undefined;
    });
    this.pulling = { epoch, done };
    return done;
  }
}
