// Issue 12 item 7: callback URLs that could reach internal or special-purpose addresses are refused.
import { describe, expect, it } from "vitest";
import { callbackUrlProblem } from "../../src/notify/callback-url";
import { call, device, enc, registerClient } from "../helpers";
import { redactChannelUrls } from "../../src/notify/channel-urls";

const client = await registerClient();
const production = { allowLoopback: false };

describe("Callback URL check (issue 12 item 7)", () => {
  it("internal names with a trailing dot are the same internal names", () => {
    for (const url of ["https://localhost./x", "https://api.localhost./x", "https://printer.local./x", "https://metadata.google.internal./x", "https://intranet./x", "https://localhost../x"]) {
      expect(callbackUrlProblem(url, production), url).toBeTruthy();
    }
    expect(callbackUrlProblem("https://hooks.example.com./x", production)).toBeUndefined();
  });

  it("documentation, 6to4, IPv4-compatible and site-local ranges are refused; public addresses pass", () => {
    for (const url of [
      "https://192.0.2.10/x", "https://198.51.100.7/x", "https://203.0.113.200/x",
      "https://[::10.0.0.1]/x", "https://[::8.8.8.8]/x", "https://[::a00:1]/x",
      "https://[2002:a00:1::1]/x", "https://[2002::]/x", "https://[fec0::1]/x", "https://[feff::1]/x",
      "https://[2001:db8::1]/x", "https://[2001:0:4136:e378::1]/x", "https://[64:ff9b::a00:1]/x",
    ]) {
      expect(callbackUrlProblem(url, production), url).toBeTruthy();
    }
    for (const url of ["https://8.8.8.8/x", "https://192.0.1.1/x", "https://[2606:4700:4700::1111]/x", "https://[::ffff:8.8.8.8]/x"]) {
      expect(callbackUrlProblem(url, production), url).toBeUndefined();
    }
  });

  it("the API refuses them with 400 SVC0002 naming notifyURL", async () => {
    const d = await device(client);
    for (const notifyURL of ["https://printer.local./x", "https://intranet./x", "https://203.0.113.9/x", "https://[2002:c000:204::1]/x"]) {
      const res = await call("POST", `/twinning/v1/${enc(d.address)}/subscriptions`, { token: d.token, body: { subscription: { callbackReference: { notifyURL } } } });
      expect(res.status, notifyURL).toBe(400);
      expect(res.json.requestError.serviceException.variables[0]).toBe("subscription.callbackReference.notifyURL");
    }
  });

  it("channel capability URLs are redacted in log lines", () => {
    const line = "GET https://gw.example/notificationchannel/v1/tel%3A%2B15551230001/channels/AbCdEfGhIjKlMnOpQrStUv/poll 200";
    expect(redactChannelUrls(line)).toBe("GET https://gw.example/notificationchannel/v1/tel%3A%2B15551230001/channels/<redacted>/poll 200");
  });
});
