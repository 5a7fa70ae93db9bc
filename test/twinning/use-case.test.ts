import { describe, expect, it } from "vitest";
import { call, device, enc, registerClient, requestCode, activate } from "../helpers";

describe("Appendix B.1: Tom twins his watch to his phone", () => {
  it("runs end to end: code on the watch, activation on the phone, status On, separate tokens for each device, toggle and deactivation", async () => {
    // 1. Tom subscribes; the watch app and the phone app are registered applications.
    const phoneApp = await registerClient(["twinning:primary"], "Phone twinning app");
    const watchApp = await registerClient(["twinning:secondary"], "Watch companion");
    // 2-3. Tom is authenticated on his phone; the app is authorised (twinning:primary).
    const phone = await device(phoneApp);
    // 4-5. The watch requests a code and shows it.
    const watch = await device(watchApp);
    const code = await requestCode(watch);
    expect(code.status).toBe(201);
    // 6-7. Tom types it on the phone; the enabler twins them with status On.
    const activated = await activate(phone, code.json.activationCode.code, "toms-watch");
    expect(activated.status).toBe(201);
    expect(activated.json.twin).toMatchObject({ secondary: watch.address, name: "toms-watch", status: "On" });
    // 8. Each device holds its own token, each limited to its role.
    expect(phone.token).not.toBe(watch.token);
    expect((await call("GET", "/twinning/v1/acr:Authorization/relationship", { token: phone.token })).status).toBe(403);
    expect((await call("GET", "/twinning/v1/acr:Authorization/twins", { token: watch.token })).status).toBe(403);
    // The watch sees its primary; the phone lists the watch.
    expect((await call("GET", "/twinning/v1/acr:Authorization/relationship", { token: watch.token })).json.relationship).toMatchObject({ primary: phone.address, status: "On" });
    expect((await call("GET", `/twinning/v1/${enc(phone.address)}/twins`, { token: phone.token })).json.twinList.twin).toHaveLength(1);
    // Later: the watch toggles Off, the phone deactivates.
    expect((await call("PUT", "/twinning/v1/acr:Authorization/relationship/status", { token: watch.token, body: { status: "Off" } })).json.relationship.status).toBe("Off");
    expect((await call("DELETE", `/twinning/v1/${enc(phone.address)}/twins/toms-watch`, { token: phone.token })).status).toBe(204);
    expect((await call("GET", "/twinning/v1/acr:Authorization/relationship", { token: watch.token })).status).toBe(404);
  });
});
