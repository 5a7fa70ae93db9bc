// A subscriber removed by the operator takes its Notification Channels with it: the previous holder's
// channelURL hears nothing more (404), and a new holder of the number starts with no channel, even when
// its application sends the same clientCorrelator.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ADMIN, call, enc, registerClient, token } from "../helpers";

const body = { notificationChannel: { channelType: "LongPolling", channelLifetime: 3600, clientCorrelator: "watch-app", channelData: { type: "nc:LongPollingData", maxNotifications: 1 } } };

async function provisionWithKey(address: string) {
  const key = crypto.getRandomValues(new Uint8Array(32));
  const deviceKey = btoa(String.fromCharCode(...key)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  expect((await call("PUT", `/admin/v1/subscribers/${enc(address)}`, { headers: ADMIN, body: { mno: { mcc: "001", mnc: "01" }, deviceKey } })).status).toBe(201);
  return { address, key };
}

describe("Notification Channels of a removed subscriber", () => {
  it("are closed with it: the old channelURL is 404, the new holder lists none and gets a new channel for the same clientCorrelator", async () => {
    const client = await registerClient();
    const address = `tel:+1555${Math.floor(Math.random() * 1e7).toString().padStart(7, "0")}`;
    const old = await provisionWithKey(address);
    const oldToken = await token(old, client);
    const created = await call("POST", `/notificationchannel/v1/${enc(address)}/channels`, { token: oldToken, body });
    expect(created.status, created.text).toBe(201);
    const oldPoll = created.json.notificationChannel.channelData.channelURL as string;

    expect((await call("DELETE", `/admin/v1/subscribers/${enc(address)}`, { headers: ADMIN })).status).toBe(204);
    const afterRemoval = await SELF.fetch(`${oldPoll}?timeout=0`, { method: "POST" });
    expect(afterRemoval.status).toBe(404);
    await afterRemoval.body?.cancel();

    const fresh = await provisionWithKey(address);
    const newToken = await token(fresh, client);
    const list = await call("GET", `/notificationchannel/v1/${enc(address)}/channels`, { token: newToken });
    expect(list.status).toBe(200);
    expect(JSON.stringify(list.json)).not.toContain(oldPoll);
    const again = await call("POST", `/notificationchannel/v1/${enc(address)}/channels`, { token: newToken, body });
    expect(again.status, again.text).toBe(201);
    expect(again.json.notificationChannel.channelData.channelURL).not.toBe(oldPoll);
  });
});
