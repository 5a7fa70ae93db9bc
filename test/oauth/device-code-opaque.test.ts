// RFC 8628 §3.2: the device_code is opaque. It routes the poll back to the subscriber's object, so it
// carries the subscriber's address, sealed (AES-GCM under a key derived from the server's name key):
// whoever sees the device code learns nothing of the subscriber's number, and an altered or made-up
// device code is refused as unknown without calling any subscriber object.
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { fromBase64url } from "../../src/http/crypto";
import { device, ORIGIN, registerClient, requestCode } from "../helpers";

async function poll(client: { client_id: string; client_secret: string }, deviceCode: string) {
  const res = await SELF.fetch(`${ORIGIN}/oauth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", Authorization: `Basic ${btoa(`${client.client_id}:${client.client_secret}`)}` },
    body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: deviceCode }).toString(),
  });
  return { status: res.status, json: (await res.json()) as any };
}

describe("The device_code is opaque (RFC 8628 §3.2)", () => {
  it("it shows the subscriber's number in no form (text, digits, base64url of it), and two codes of one subscriber share nothing", async () => {
    const app = await registerClient();
    const watch = await device(app);
    const first = (await requestCode(watch)).json.activationCode.deviceCode as string;
    const second = (await requestCode(watch)).json.activationCode.deviceCode as string;
    const digits = watch.address.replace(/\D/g, "");
    for (const code of [first, second]) {
      expect(code).not.toContain(digits);
      const decoded = code.split(".").map((part) => new TextDecoder().decode(fromBase64url(part) ?? new Uint8Array()));
      for (const text of decoded) expect(text).not.toContain(digits);
    }
    expect(first.split(".")[0]).not.toBe(second.split(".")[0]);
    expect((await poll(app, second)).json.error).toBe("authorization_pending");
  });

  it("an altered route, a made-up one, or the old readable form of the address is invalid_grant unknown device_code", async () => {
    const app = await registerClient();
    const watch = await device(app);
    const code = (await requestCode(watch)).json.activationCode.deviceCode as string;
    const [route, secret] = code.split(".") as [string, string];
    const flipped = route.slice(0, 20) + (route[20] === "A" ? "B" : "A") + route.slice(21);
    const readable = btoa(watch.address).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    for (const forged of [`${flipped}.${secret}`, `${"A".repeat(60)}.${secret}`, `${readable}.${secret}`, "x"]) {
      const res = await poll(app, forged);
      expect(res.status, forged).toBe(400);
      expect(res.json.error).toBe("invalid_grant");
    }
    expect((await poll(app, code)).json.error).toBe("authorization_pending");
  });
});
