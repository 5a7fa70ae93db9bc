// Issue 14: the operator-to-operator API is ours, so /openapi.json is its contract for other
// operators' gateways; each route, its security and its Idempotency-Key are described there.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ORIGIN } from "../helpers";

const doc = (await (await SELF.fetch(`${ORIGIN}/openapi.json`)).json()) as any;
const operations = Object.entries<any>(doc.paths).flatMap(([path, item]) => Object.entries<any>(item).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, method, op })));

describe("the inter-MNO federation API in /openapi.json", () => {
  it("documents every operator-to-operator operation (HLF-IC-001..007) and the peer registry of the admin API", () => {
    expect(operations.map((o) => o.key)).toEqual(
      expect.arrayContaining([
        "PUT /admin/v1/peers/{mno}",
        "GET /admin/v1/peers",
        "GET /admin/v1/peers/{mno}",
        "DELETE /admin/v1/peers/{mno}",
        "GET /admin/v1/peers/{mno}/operator",
        "GET /federation/v1/operator",
        "POST /federation/v1/activationCodes",
        "PUT /federation/v1/activations/{relationshipId}",
        "POST /federation/v1/activations/{relationshipId}/confirmation",
        "POST /federation/v1/activations/{relationshipId}/resolution",
        "PUT /federation/v1/relationships/{relationshipId}/status",
        "POST /federation/v1/relationships/{relationshipId}/end",
        "PUT /federation/v1/twins/{relationshipId}/status",
        "POST /federation/v1/twins/{relationshipId}/end",
        "POST /federation/v1/twins/{relationshipId}/delegatedTokens",
      ]),
    );
  });

  it("every federation operation needs a twinning:federation token, answers 401, 403 and 429, and every state-changing one names its required Idempotency-Key", () => {
    const federation = operations.filter((o) => o.key.includes(" /federation/v1/"));
    expect(federation.length).toBe(10);
    for (const { key, method, op } of federation) {
      expect(op.security, key).toEqual([{ federationToken: ["twinning:federation"] }]);
      expect(op.tags, key).toEqual(["Inter-MNO federation"]);
      expect(Object.keys(op.responses), key).toEqual(expect.arrayContaining(["401", "403", "429"]));
      const idempotencyKey = (op.parameters ?? []).find((p: any) => p.in === "header" && p.name.toLowerCase() === "idempotency-key");
      if (method === "get") expect(idempotencyKey, key).toBeUndefined();
      else expect(idempotencyKey, key).toMatchObject({ required: true });
    }
    expect(doc.components.securitySchemes.federationToken.flows.clientCredentials.scopes).toHaveProperty("twinning:federation");
  });

  it("the device-facing fields of inter-MNO twinning are described: primaryMno, activationCodeMno, primaryMno and primaryServices on the relationship", () => {
    const code = doc.paths["/twinning/v1/{userId}/activationCodes"].post.requestBody.content["application/json"].schema;
    const codeSchema = code.$ref ? doc.components.schemas[code.$ref.split("/").pop()] : code;
    expect(codeSchema.properties).toHaveProperty("primaryMno");
    expect(doc.components.schemas.TwinActivationRequest.properties).toHaveProperty("activationCodeMno");
    expect(doc.components.schemas.Relationship.properties).toHaveProperty("primaryMno");
    expect(doc.components.schemas.Relationship.properties).toHaveProperty("primaryServices");
  });
});
