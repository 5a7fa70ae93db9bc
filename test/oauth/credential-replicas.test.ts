// Client authentication at the token endpoint reads a client's credential from one of its replicas
// (src/oauth/credential-replica.ts). Once a secret rotation or a removal has returned, no replica
// decides with the old credential; replicas keep nothing in storage.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { CredentialReplica, type ClientCredential } from "../../src/oauth/credential-replica";
import { CLIENT_REPLICAS, clientReplicaName, clientReplicaNames } from "../../src/oauth/object-names";
import { ADMIN, call, requestToken, type Client } from "../helpers";

async function register(body: Record<string, unknown> = {}): Promise<Client> {
  const res = await call("POST", "/admin/v1/clients", { headers: ADMIN, body: { name: "Replicated app", scopes: ["twinning:primary"], grant_types: ["client_credentials"], ...body } });
  expect(res.status).toBe(201);
  return res.json;
}

const replica = (clientId: string, index: number) => env.OAUTH_CLIENTS.getByName(clientReplicaName(clientId, index));
/** What each replica decides for `secret`: the client_id it authenticates, or undefined. */
const verdicts = (clientId: string, secret: string) =>
  Promise.all(Array.from({ length: CLIENT_REPLICAS }, async (_, i) => (await replica(clientId, i).replicaVerifySecret(clientId, secret, undefined)).client?.clientId));
const everyReplica = (value: string | undefined) => Array.from({ length: CLIENT_REPLICAS }, () => value);
/** The tables each replica of `clientId` has in storage: none, its copy is in memory only. */
const replicaTables = (clientId: string) =>
  Promise.all(
    clientReplicaNames(clientId).map((name) =>
      runInDurableObject(env.OAUTH_CLIENTS.getByName(name), (_, state) => state.storage.sql.exec("SELECT name FROM sqlite_master WHERE name NOT LIKE '_cf_%'").toArray().length),
    ),
  );
const clientToken = (client: Client) => requestToken(client, { grant_type: "client_credentials" });

async function rotate(clientId: string): Promise<string> {
  const res = await call("POST", `/admin/v1/clients/${clientId}/secret`, { headers: ADMIN });
  expect(res.status).toBe(200);
  return res.json.client_secret;
}

describe("Credential replicas of a client (issue 13: token requests do not all meet at one object)", () => {
  it("every replica authenticates the client with its secret, refuses a wrong one, and none keeps storage", async () => {
    const client = await register();
    expect(await verdicts(client.client_id, client.client_secret)).toEqual(everyReplica(client.client_id));
    expect(await verdicts(client.client_id, "not-the-secret")).toEqual(everyReplica(undefined));
    for (let i = 0; i < 8; i++) expect((await clientToken(client)).status).toBe(200);
    expect(await replicaTables(client.client_id)).toEqual(Array.from({ length: CLIENT_REPLICAS }, () => 0));
  });

  it("once a secret rotation has returned, no replica accepts the old secret and every replica the new one", async () => {
    const client = await register();
    expect(await verdicts(client.client_id, client.client_secret)).toEqual(everyReplica(client.client_id)); // every replica holds a copy
    const secret = await rotate(client.client_id);
    expect(await verdicts(client.client_id, client.client_secret)).toEqual(everyReplica(undefined));
    expect(await verdicts(client.client_id, secret)).toEqual(everyReplica(client.client_id));
    for (let i = 0; i < 8; i++) {
      const old = await clientToken(client);
      expect(old.status).toBe(401);
      expect(old.json.error).toBe("invalid_client");
      expect((await clientToken({ ...client, client_secret: secret })).status).toBe(200);
    }
  });

  it("a rotation racing token requests: each request gets a verdict, and every request made after it returned is refused the old secret", async () => {
    const client = await register();
    const racing = Array.from({ length: 48 }, () => clientToken(client));
    const secret = await rotate(client.client_id);
    const after = await Promise.all(Array.from({ length: 32 }, () => clientToken(client)));
    for (const answer of await Promise.all(racing)) expect([200, 401]).toContain(answer.status);
    expect(after.map((a) => a.status)).toEqual(after.map(() => 401));
    expect(await verdicts(client.client_id, client.client_secret)).toEqual(everyReplica(undefined));
    expect((await clientToken({ ...client, client_secret: secret })).status).toBe(200);
  });

  it("rotations racing replicas that pull at the same time: after the last one returned, only the last secret authenticates", async () => {
    const client = await register();
    let secret = client.client_secret;
    const secrets = [secret];
    for (let round = 0; round < 3; round++) {
      const pulls = verdicts(client.client_id, secret);
      secret = await rotate(client.client_id);
      secrets.push(secret);
      await pulls;
    }
    for (const old of secrets.slice(0, -1)) expect(await verdicts(client.client_id, old)).toEqual(everyReplica(undefined));
    expect(await verdicts(client.client_id, secret)).toEqual(everyReplica(client.client_id));
  });

  it("once the client is removed, no replica authenticates it and the token endpoint refuses it at every replica", async () => {
    const client = await register();
    expect(await verdicts(client.client_id, client.client_secret)).toEqual(everyReplica(client.client_id));
    expect((await call("DELETE", `/admin/v1/clients/${client.client_id}`, { headers: ADMIN })).status).toBe(204);
    expect(await verdicts(client.client_id, client.client_secret)).toEqual(everyReplica(undefined));
    for (let i = 0; i < CLIENT_REPLICAS; i++) expect(await replica(client.client_id, i).replicaInfo(client.client_id)).toBeUndefined();
    for (let i = 0; i < 2 * CLIENT_REPLICAS; i++) {
      const res = await clientToken(client);
      expect(res.status).toBe(401);
      expect(res.json.error).toBe("invalid_client");
    }
    expect(await replicaTables(client.client_id)).toEqual(Array.from({ length: CLIENT_REPLICAS }, () => 0));
  });

  it("a public client's registration comes from a replica; a replica serves only its own client", async () => {
    const res = await call("POST", "/admin/v1/clients", {
      headers: ADMIN,
      body: { name: "Public app", scopes: ["twinning:primary"], redirect_uris: ["https://app.example/cb"], token_endpoint_auth_method: "none" },
    });
    const publicClient = res.json as { client_id: string };
    expect((await replica(publicClient.client_id, 3).replicaInfo(publicClient.client_id))?.authMethod).toBe("none");
    const other = await register();
    const refusal = (call: () => Promise<unknown>) => call().then(() => "served", (err: Error) => err.message);
    expect(await refusal(() => replica(publicClient.client_id, 3).replicaInfo(other.client_id))).toMatch(/not a credential replica/);
    expect(await refusal(() => env.OAUTH_CLIENTS.getByName(other.client_id).replicaVerifySecret(other.client_id, other.client_secret, undefined))).toMatch(/not a credential replica/);
  });
});

describe("CredentialReplica: an answer to a pull sent before an invalidation is never used", () => {
  const deferred = () => {
    let resolve!: (c: ClientCredential) => void;
    const promise = new Promise<ClientCredential>((r) => (resolve = r));
    return { promise, resolve };
  };
  const credential = (name: string): ClientCredential => ({
    client: { clientId: "client-x", name, scopes: [], grantTypes: [], redirectUris: [], authMethod: "client_secret_basic" },
  });

  it("a pull that returns after the invalidation is discarded and pulled again; concurrent misses share one pull", async () => {
    const pulls: ReturnType<typeof deferred>[] = [];
    const copy = new CredentialReplica("client-x", () => {
      const d = deferred();
      pulls.push(d);
      return d.promise;
    });
    const first = copy.current();
    const second = copy.current();
    await Promise.resolve();
    expect(pulls.length).toBe(1);
    copy.invalidate();
    pulls[0]!.resolve(credential("before the change"));
    await new Promise((r) => setTimeout(r, 0));
    expect(pulls.length).toBe(2);
    pulls[1]!.resolve(credential("after the change"));
    expect((await first)?.client?.name).toBe("after the change");
    expect((await second)?.client?.name).toBe("after the change");
    expect((await copy.current())?.client?.name).toBe("after the change");
    expect(pulls.length).toBe(2);
  });

  it("invalidations that keep racing the pulls leave no copy: the caller asks the primary", async () => {
    const copy: CredentialReplica = new CredentialReplica("client-x", async () => {
      copy.invalidate();
      return credential("always stale");
    });
    expect(await copy.current()).toBeUndefined();
  });
});
