// Issue 17, "the API in /openapi.json and /docs": every WebRTC signaling operation is described with
// its scopes and errors, the notifications a subscription brings are named, and /docs renders that
// same document.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ORIGIN } from "../helpers";

const SESSION_OPS = [
  "POST /webrtcsignaling/v1/{userId}/sessions",
  "GET /webrtcsignaling/v1/{userId}/sessions/{sessionId}",
  "DELETE /webrtcsignaling/v1/{userId}/sessions/{sessionId}",
  "GET /webrtcsignaling/v1/{userId}/sessions/{sessionId}/status",
  "PUT /webrtcsignaling/v1/{userId}/sessions/{sessionId}/status",
  "PUT /webrtcsignaling/v1/{userId}/sessions/{sessionId}/answer",
  "PUT /webrtcsignaling/v1/{userId}/sessions/{sessionId}/offer",
  "PUT /webrtcsignaling/v1/{userId}/sessions/{sessionId}/update",
  "PUT /webrtcsignaling/v1/{userId}/sessions/{sessionId}/ice",
  "GET /webrtcsignaling/v1/{userId}/sessions/{sessionId}/ice",
];
const SUBSCRIPTION_OPS = [
  "POST /webrtcsignaling/v1/{userId}/subscriptions",
  "GET /webrtcsignaling/v1/{userId}/subscriptions",
  "GET /webrtcsignaling/v1/{userId}/subscriptions/{subscriptionId}",
  "DELETE /webrtcsignaling/v1/{userId}/subscriptions/{subscriptionId}",
];

describe("WebRTC signaling in the API description", () => {
  it("/openapi.json has every session and subscription operation, its scopes and its errors, and names every notification", async () => {
    const doc = (await (await SELF.fetch(`${ORIGIN}/openapi.json`)).json()) as any;
    const op = (key: string) => {
      const [method, path] = key.split(" ");
      return doc.paths[path!]?.[method!.toLowerCase()];
    };
    const documented = Object.entries<any>(doc.paths).filter(([p]) => p.startsWith("/webrtcsignaling/")).flatMap(([p, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${p}`));
    expect(documented.sort()).toEqual([...SESSION_OPS, ...SUBSCRIPTION_OPS].sort());
    for (const key of SESSION_OPS) {
      // The devices' apps (webrtc:call) and a twinned secondary acting for its primary (HLF-SD-009).
      expect(op(key).security, key).toEqual([{ bearerAuth: ["webrtc:call"] }, { bearerAuth: ["twinning:delegated"] }]);
      expect(Object.keys(op(key).responses), key).toEqual(expect.arrayContaining(["401", "403", "404"]));
    }
    for (const key of SUBSCRIPTION_OPS) expect(op(key).security, key).toEqual([{ bearerAuth: ["webrtc:call"] }]);
    expect(Object.keys(op("POST /webrtcsignaling/v1/{userId}/sessions").responses)).toEqual(expect.arrayContaining(["201", "400", "429"]));
    expect(Object.keys(op("PUT /webrtcsignaling/v1/{userId}/sessions/{sessionId}/answer").responses)).toEqual(expect.arrayContaining(["200", "400", "409"]));
    expect(doc.components.schemas).toHaveProperty("WrtcsSession");
    expect(doc.components.schemas).toHaveProperty("WrtcsSessionStatusValue");
    const subscribe = op("POST /webrtcsignaling/v1/{userId}/subscriptions").description as string;
    for (const root of ["wrtcsSessionInvitationNotification", "wrtcsEventNotification", "wrtcsAnswerNotification", "wrtcsOfferNotification", "wrtcsIceNotification"]) {
      expect(subscribe).toContain(root);
    }
  });

  it("/docs is the interactive reference of that same document", async () => {
    const page = await SELF.fetch(`${ORIGIN}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    expect(await page.text()).toContain("/openapi.json");
  });
});
