// The OMA DM 2.0 REST resources of the seed's change request (x.1), under /dm/v2: sessions,
// devices and alert, each scoped to the DM account of the request's credentials (another account's
// device or session is 404, the same as one that does not exist).
import type { Context } from "hono";
import type { AppEnv } from "../../env";
import { router } from "../../http/app";
import { ApiError, invalidInput, notFound, unwrap } from "../../http/errors";
import { accountOf, requireDmAccount } from "./auth";
import { parseInitiationPackage, parseJsonBody, parseResultPackage, type Dm2Alert, ALERT } from "./commands";
import { bindDevice, jobPort, unbindDevice } from "./device-binding";
import { PROTOCOLS, speaksDm2, type DeviceFields, type Protocol, type RegisteredDevice } from "./device-registry";
import { abortSession, answer, startSession, type EngineContext, type Package } from "./engine";
import { negotiate, requestType, wantsHtml, SEED_TYPE, type Dm2Type } from "./media-types";
import { notifyDevice } from "./notification";
import { devicePage, deviceListPage, displayPage, PAGE_HEADERS, registrationPage, sessionTriggeredPage, type FormErrors, type FormValues } from "./pages";
import type { Initiator, SessionView } from "./session-store";
import { downloadOf, uploadOf } from "./translate";
import { describeRoutes } from "./openapi";
import { recordEvent } from "../../ops/metrics";

type Ctx = Context<AppEnv>;
export const dm2Routes = router();

dm2Routes.use("/dm/v2/*", requireDmAccount);

export const DEV_ID = /^[\x21-\x7e]{1,128}$/;
/** Our session ids (128 bits, hex), or the 16-bit session number of a package 0 (hex) for the session it announced. */
const SESSION_ID = /^(?:[0-9a-f]{32}|[0-9A-Fa-f]{1,4})$/;
/** One uploaded node value (it is kept in the session until the statuses arrive; storage rows hold 2 MB). */
const MAX_DATA_BYTES = 1024 * 1024;

const ctx = (c: Ctx): EngineContext => ({ env: c.env, origin: new URL(c.req.url).origin, accountId: accountOf(c) });
const account = (c: Ctx) => c.env.DM_ACCOUNTS.getByName(accountOf(c));
const html = (c: Ctx, body: string, status: 200 | 400 | 404 | 409 = 200) => c.html(body, status, PAGE_HEADERS);

/** An id that cannot be one is bad input (400, as /openapi.json describes the parameter); a well-formed unknown one is 404. */
function sessionIdParam(c: Ctx): string {
  const id = c.req.param("sessionId") ?? "";
  if (!SESSION_ID.test(id)) throw invalidInput("sessionId", `${JSON.stringify(id.slice(0, 64))} is not a session id: 32 lowercase hex digits, or the 1-4 hex digit session number of a package 0`);
  return id;
}

// ------------------------------------------------------------------ devices (x.1.2)

const deviceView = (c: Ctx, d: RegisteredDevice) => ({
  devId: d.devId,
  ...(d.name ? { name: d.name } : {}),
  protocol: d.protocol,
  ...(d.manufacturer ? { manufacturer: d.manufacturer } : {}),
  ...(d.model ? { model: d.model } : {}),
  createdAt: new Date(d.createdAt).toISOString(),
  updatedAt: new Date(d.updatedAt).toISOString(),
  resourceURL: `${new URL(c.req.url).origin}/dm/v2/devices/${encodeURIComponent(d.devId)}`,
});

/** Form fields or a JSON object, as submitted: strings only, trimmed. */
async function submitted(c: Ctx): Promise<FormValues> {
  const type = (c.req.header("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  let raw: Record<string, unknown>;
  if (type === "application/x-www-form-urlencoded" || type === "multipart/form-data") {
    raw = Object.fromEntries([...(await c.req.formData()).entries()].filter(([, v]) => typeof v === "string"));
  } else if (type === "application/json" || type.endsWith("+json")) {
    const body = parseJsonBody(new Uint8Array(await c.req.arrayBuffer()));
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw invalidInput("body", "a JSON object");
    raw = body as Record<string, unknown>;
  } else {
    throw new ApiError(415, "SVC0002", ["Content-Type", "application/x-www-form-urlencoded, multipart/form-data or application/json"]);
  }
  const out: FormValues = {};
  for (const k of ["devId", "name", "protocol", "manufacturer", "model"] as const) {
    const v = raw[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== "string") throw invalidInput(k, "a string");
    out[k] = v.trim();
  }
  const unknown = Object.keys(raw).find((k) => !["devId", "name", "protocol", "manufacturer", "model"].includes(k));
  if (unknown && type.includes("json")) throw invalidInput(unknown, "no such field (devId, name, protocol, manufacturer, model)");
  return out;
}

const TEXT = /^[^\x00-\x1f\x7f]*$/;

/** Every problem of the submitted fields at once, so a form shows them all. */
function validate(v: FormValues, withDevId: boolean): { fields?: DeviceFields; errors: FormErrors } {
  const errors: FormErrors = {};
  if (withDevId) {
    if (!v.devId) errors.devId = "Enter the device ID.";
    else if (!DEV_ID.test(v.devId)) errors.devId = "Use 1 to 128 visible ASCII characters without spaces (e.g. IMEI:493005100592800).";
  }
  if (v.name !== undefined && (v.name.length > 64 || !TEXT.test(v.name))) errors.name = "At most 64 characters, no control characters.";
  if (v.protocol !== undefined && v.protocol !== "" && !PROTOCOLS.includes(v.protocol as Protocol)) errors.protocol = `Choose one of ${PROTOCOLS.join(", ")}.`;
  for (const k of ["manufacturer", "model"] as const) if (v[k] !== undefined && (v[k]!.length > 64 || !TEXT.test(v[k]!))) errors[k] = "At most 64 characters, no control characters.";
  if (Object.keys(errors).length) return { errors };
  return {
    errors,
    fields: {
      protocol: (v.protocol || "DM2.0") as Protocol,
      ...(v.name ? { name: v.name } : {}),
      ...(v.manufacturer ? { manufacturer: v.manufacturer } : {}),
      ...(v.model ? { model: v.model } : {}),
    },
  };
}

const firstError = (errors: FormErrors) => {
  const [k, v] = Object.entries(errors)[0]!;
  return invalidInput(k, v);
};

/** A form posted from another site would ride on the browser's stored credentials: refuse it (Fetch Metadata, Origin). */
function sameOriginForm(c: Ctx): void {
  const site = c.req.header("sec-fetch-site");
  const origin = c.req.header("origin");
  if ((site && site !== "same-origin" && site !== "none") || (origin && origin !== "null" && origin !== new URL(c.req.url).origin)) {
    throw new ApiError(403, "POL0001", ["cross-site form submission refused"]);
  }
}

dm2Routes.get("/dm/v2/devices", async (c) => {
  const list = unwrap(await account(c).listDevices());
  if (wantsHtml(c.req.header("accept"))) return html(c, deviceListPage(accountOf(c), list));
  return c.json({ deviceList: list.map((d) => deviceView(c, d)) }, 200);
});

dm2Routes.get("/dm/v2/devices/new", (c) => html(c, registrationPage(accountOf(c))));

dm2Routes.post("/dm/v2/devices/new", async (c) => {
  const browser = wantsHtml(c.req.header("accept"));
  if (browser) sameOriginForm(c);
  const values = await submitted(c);
  const { fields, errors } = validate(values, true);
  if (!fields) {
    if (browser) return html(c, registrationPage(accountOf(c), values, errors), 400);
    throw firstError(errors);
  }
  const devId = values.devId!;
  const acct = account(c);
  const registered = await acct.registerDevice(devId, fields);
  if (!registered.ok) {
    if (browser && registered.error.status === 409) return html(c, registrationPage(accountOf(c), values, { devId: "This device is already registered to your account." }), 409);
    throw ApiError.from(registered.error);
  }
  try {
    await bindDevice(c.env, devId, accountOf(c), fields.protocol);
  } catch (err) {
    await acct.forgetDevice(devId, registered.value.createdAt);
    if (browser && err instanceof ApiError && err.status === 409) return html(c, registrationPage(accountOf(c), values, { devId: "This device ID is registered to another DM account." }), 409);
    throw err;
  }
  const view = deviceView(c, registered.value);
  if (browser) return c.redirect(`/dm/v2/devices/${encodeURIComponent(devId)}?registered=1`, 303);
  return c.json({ device: view }, 201, { Location: view.resourceURL });
});

function devIdParam(c: Ctx): string {
  const devId = c.req.param("devId") ?? "";
  if (!DEV_ID.test(devId)) throw notFound("devId", devId);
  return devId;
}

dm2Routes.get("/dm/v2/devices/:devId", async (c) => {
  const d = unwrap(await account(c).device(devIdParam(c)));
  if (wantsHtml(c.req.header("accept"))) return html(c, devicePage(accountOf(c), d, undefined, {}, c.req.query("registered") === "1" || c.req.query("saved") === "1"));
  return c.json({ device: deviceView(c, d) }, 200);
});

async function updateDevice(c: Ctx, browser: boolean): Promise<Response> {
  const devId = devIdParam(c);
  const acct = account(c);
  const current = unwrap(await acct.device(devId));
  const values = await submitted(c);
  if (values.devId !== undefined && values.devId !== devId) {
    if (browser) return html(c, devicePage(accountOf(c), current, values, { devId: "The device ID cannot change." }), 400);
    throw invalidInput("devId", "the device ID cannot change");
  }
  const { fields, errors } = validate(values, false);
  if (!fields) {
    if (browser) return html(c, devicePage(accountOf(c), current, values, errors), 400);
    throw firstError(errors);
  }
  // Fields left out of a JSON update stay as they are; a form always sends them all (empty clears).
  const patch: Partial<DeviceFields> = browser ? { name: fields.name ?? "", manufacturer: fields.manufacturer ?? "", model: fields.model ?? "", protocol: fields.protocol } : {
    ...(values.name !== undefined ? { name: values.name } : {}),
    ...(values.manufacturer !== undefined ? { manufacturer: values.manufacturer } : {}),
    ...(values.model !== undefined ? { model: values.model } : {}),
    ...(values.protocol ? { protocol: fields.protocol } : {}),
  };
  if (patch.protocol && patch.protocol !== current.protocol) await bindDevice(c.env, devId, accountOf(c), patch.protocol);
  const updated = unwrap(await acct.updateDevice(devId, patch));
  if (browser) return c.redirect(`/dm/v2/devices/${encodeURIComponent(devId)}?saved=1`, 303);
  return c.json({ device: deviceView(c, updated) }, 200);
}

dm2Routes.put("/dm/v2/devices/:devId", (c) => updateDevice(c, false));
// HTML forms cannot PUT: the device page's update form posts here.
dm2Routes.post("/dm/v2/devices/:devId", (c) => {
  sameOriginForm(c);
  return updateDevice(c, wantsHtml(c.req.header("accept")));
});

dm2Routes.delete("/dm/v2/devices/:devId", async (c) => {
  const devId = devIdParam(c);
  const { open } = unwrap(await account(c).removeDevice(devId));
  if (open) unwrap(await jobPort(c.env, devId).releaseSession(open.doc.jobSession));
  await unbindDevice(c.env, devId, accountOf(c));
  return c.body(null, 204);
});

// ------------------------------------------------------------------ sessions (x.1.1) and alert (x.1.3)

const sessionView = (c: Ctx, s: SessionView) => ({
  sessionId: s.sessionId,
  devId: s.devId,
  state: s.state,
  initiator: s.initiator,
  packages: s.exchanges,
  ...(s.notification && s.state === "pending" ? { notification: { ...s.notification, contentType: "application/vnd.syncml.notification", wspContentType: 0x44 } } : {}),
  ...(s.result ? { result: s.result } : {}),
  createdAt: new Date(s.createdAt).toISOString(),
  updatedAt: new Date(s.updatedAt).toISOString(),
  ...(s.state === "pending" || s.state === "active" ? { resourceURL: `${new URL(c.req.url).origin}/dm/v2/sessions/id/${s.sessionId}` } : {}),
});

dm2Routes.get("/dm/v2/sessions/pending", async (c) => c.json({ sessionList: unwrap(await account(c).sessionsIn("pending")).map((s) => sessionView(c, s)) }, 200));
dm2Routes.get("/dm/v2/sessions/completed", async (c) => c.json({ sessionList: unwrap(await account(c).sessionsIn("completed")).map((s) => sessionView(c, s)) }, 200));

/** The JSON package in the negotiated type, with the session id the device answers under. */
function packageResponse(c: Ctx, pkg: Package, type: Dm2Type): Response {
  const headers: Record<string, string> = { "Content-Type": type, "Cache-Control": "no-store" };
  if (pkg.sessionId) {
    headers["Location"] = `${new URL(c.req.url).origin}/dm/v2/sessions/id/${pkg.sessionId}`;
    headers["OMADM-SessionID"] = pkg.sessionId;
  }
  headers["OMADM-NextNonce"] = pkg.nextNonce;
  return new Response(JSON.stringify({ CMD: pkg.commands }), { status: 200, headers });
}

async function body(c: Ctx): Promise<{ sent: Dm2Type | undefined; json: unknown }> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const sent = requestType(c.req.header("content-type"), bytes.length > 0);
  return { sent, json: bytes.length ? parseJsonBody(bytes) : undefined };
}

/** The device a session-starting request is for: OMADM-DevID, or the account's only DM 2.0 device. */
async function deviceOf(c: Ctx, given: string | undefined): Promise<RegisteredDevice> {
  const acct = account(c);
  if (given !== undefined) {
    if (!DEV_ID.test(given)) throw invalidInput("OMADM-DevID", "a device ID of 1-128 visible ASCII characters");
    const d = unwrap(await acct.device(given));
    if (!speaksDm2(d.protocol)) throw new ApiError(409, "SVC0002", ["OMADM-DevID", `${given} is registered as a DM 1.2 device; change its protocol to DM 2.0 or both`]);
    return d;
  }
  const dm2 = unwrap(await acct.listDevices()).filter((d) => speaksDm2(d.protocol));
  if (dm2.length === 1) return dm2[0]!;
  throw invalidInput("OMADM-DevID", dm2.length ? "the device ID (the account has several DM 2.0 devices)" : "a registered DM 2.0 device (the account has none)");
}

/**
 * Package 1: the device (or its browser component) starts a session. A browser that takes HTML
 * and names no DM 2.0 type gets a page instead, and the device is asked to connect (x.2.4).
 */
async function start(c: Ctx, initiator: Initiator, sessionId?: string): Promise<Response> {
  const accept = c.req.header("accept");
  if (wantsHtml(accept)) {
    const devId = c.req.header("omadm-devid") ?? c.req.query("devId") ?? (await formDevId(c));
    const d = await deviceOf(c, devId);
    const pending = await notifyDevice(c, accountOf(c), d.devId, "browser");
    return html(c, sessionTriggeredPage(accountOf(c), d.devId, pending.sessionId));
  }
  const { sent, json } = await body(c);
  const answerType = negotiate(accept, sent);
  if (answerType.kind !== "json") throw new ApiError(406, "SVC0002", ["Accept", "a DM 2.0 media type"]);
  const pkg = parseInitiationPackage(json);
  const alerts: Dm2Alert[] = pkg.Alert ?? [];
  const explicit = c.req.header("omadm-devid");
  const device = sessionId && explicit === undefined ? await deviceForSession(c, sessionId) : await deviceOf(c, explicit);
  // x.2.3: a browser component names the seed's type; a ServerInitiatedMgmt alert answers a notification.
  const who: Initiator = answerType.type === SEED_TYPE && initiator === "client" ? "browser-component" : alerts.some((a) => a.AlertType === ALERT.serverInitiated) ? "server" : initiator;
  const first = await startSession(ctx(c), device.devId, who, alerts, sessionId);
  recordEvent(c.env, "dm.session", "DM2.0");
  return packageResponse(c, first, answerType.type);
}

async function formDevId(c: Ctx): Promise<string | undefined> {
  const type = (c.req.header("content-type") ?? "").toLowerCase();
  if (!type.startsWith("application/x-www-form-urlencoded") && !type.startsWith("multipart/form-data")) return undefined;
  sameOriginForm(c);
  const v = (await c.req.formData()).get("devId");
  return typeof v === "string" && v ? v : undefined;
}

async function deviceForSession(c: Ctx, sessionId: string): Promise<RegisteredDevice> {
  const pending = unwrap(await account(c).sessionsIn("pending")).find((s) => s.sessionId === sessionId || (sessionId.length <= 4 && s.notification?.sessionNum === parseInt(sessionId, 16)));
  if (!pending) throw notFound("sessionId", sessionId);
  return unwrap(await account(c).device(pending.devId));
}

dm2Routes.post("/dm/v2/sessions/next", (c) => start(c, "client"));
dm2Routes.post("/dm/v2/sessions/id/:sessionId", (c) => start(c, "server", sessionIdParam(c)));
dm2Routes.post("/dm/v2/alert", (c) => start(c, "client"));

dm2Routes.put("/dm/v2/sessions/id/:sessionId", async (c) => {
  const sessionId = sessionIdParam(c);
  const { sent, json } = await body(c);
  const answerType = negotiate(c.req.header("accept"), sent);
  if (answerType.kind !== "json") throw new ApiError(406, "SVC0002", ["Accept", "a DM 2.0 media type"]);
  return packageResponse(c, await answer(ctx(c), sessionId, parseResultPackage(json)), answerType.type);
});

const abort = async (c: Ctx) => {
  await abortSession(ctx(c), sessionIdParam(c));
  return c.body(null, 204);
};
dm2Routes.delete("/dm/v2/sessions/id/:sessionId", abort);
// The seed spells this one resource in the singular.
dm2Routes.delete("/dm/v2/session/id/:sessionId", abort);

// ------------------------------------------------------------------ the data of HGET / HPUT / HPOST commands

function dataIndex(c: Ctx): number {
  const n = c.req.param("index") ?? "";
  if (!/^\d{1,4}$/.test(n)) throw invalidInput("index", `${JSON.stringify(n.slice(0, 64))} is not a command index: 1-4 decimal digits`);
  return Number(n);
}

dm2Routes.get("/dm/v2/sessions/id/:sessionId/data/:index", async (c) => {
  const sessionId = sessionIdParam(c);
  const index = dataIndex(c);
  const s = unwrap(await account(c).activeSession(sessionId));
  const f = s.doc.inFlight.find((x) => x.index === index && (x.name === "HGET" || x.name === "SHOW"));
  if (!f) throw notFound("index", String(index));
  const job = unwrap(await jobPort(c.env, s.devId).job(f.jobId)) as { commands: { children?: unknown[] }[] };
  let cmd: any = { children: job.commands };
  for (const i of f.path) cmd = cmd?.children?.[i];
  if (!cmd) throw notFound("index", String(index));
  if (f.name === "SHOW") return html(c, displayPage(cmd.items ?? []));
  const { body: data, type } = downloadOf(cmd);
  return new Response(data, { status: 200, headers: { "Content-Type": type, "Cache-Control": "no-store" } });
});

const upload = async (c: Ctx) => {
  const sessionId = sessionIdParam(c);
  const index = dataIndex(c);
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  if (bytes.length > MAX_DATA_BYTES) throw new ApiError(413, "SVC0002", ["body", `at most ${MAX_DATA_BYTES} bytes`]);
  unwrap(await account(c).putUpload(sessionId, index, uploadOf(bytes, c.req.header("content-type"))));
  return c.body(null, 204);
};
dm2Routes.put("/dm/v2/sessions/id/:sessionId/data/:index", upload);
dm2Routes.post("/dm/v2/sessions/id/:sessionId/data/:index", upload);

describeRoutes(dm2Routes);
