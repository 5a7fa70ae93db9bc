// The server-rendered pages of the DM 2.0 resources: the device registration form (x.1.2
// GET /devices/new), a device's page with its update form, the account's device list, and the page
// a browser gets when it starts a session (x.2.4). Errors are shown next to their field and in a
// summary, and every value typed comes back in the form.
import { escapeHtml as e } from "../../http/html";
import { PROTOCOLS, type Protocol, type RegisteredDevice } from "./device-registry";

export const PAGE_HEADERS = {
  "Cache-Control": "no-store",
  "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  "X-Frame-Options": "DENY",
  "Referrer-Policy": "no-referrer",
};

const PROTOCOL_LABEL: Record<Protocol, string> = { "DM2.0": "OMA DM 2.0 (REST, JSON)", "DM1.2": "OMA DM 1.2 (SyncML)", both: "Both" };

function page(title: string, account: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${e(title)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1d2330}
h1{font-size:1.35rem}header{color:#555;font-size:.9rem;border-bottom:1px solid #ddd;margin-bottom:1rem}
label{display:block;font-weight:600;margin-top:1rem}.hint{display:block;font-weight:400;color:#555;font-size:.9rem}
input[type=text]{width:100%;box-sizing:border-box;font-size:1rem;padding:.5rem;border:1px solid #888;border-radius:4px}
input[aria-invalid=true]{border:2px solid #b00020}
fieldset{border:0;padding:0;margin:1rem 0 0}legend{font-weight:600}fieldset label{font-weight:400;margin-top:.3rem}
.error{color:#b00020;font-size:.95rem;margin:.2rem 0 0}
.summary{border:2px solid #b00020;border-radius:6px;padding:.5rem 1rem;margin-bottom:1rem}
.summary h2{font-size:1rem;margin:.3rem 0}
.ok{border:2px solid #1b7f3b;border-radius:6px;padding:.5rem 1rem}
button{margin-top:1.5rem;font-size:1rem;padding:.6rem 1.4rem;border-radius:6px;border:1px solid #1f5fbf;background:#1f5fbf;color:#fff;cursor:pointer}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem;border-bottom:1px solid #ddd}
</style></head><body><header>DM account <strong id="account">${e(account)}</strong> · <a href="/dm/v2/devices">Devices</a> · <a href="/dm/v2/devices/new">Register a device</a></header>
<main>${body}</main></body></html>`;
}

export type FormValues = Partial<Record<"devId" | "name" | "protocol" | "manufacturer" | "model", string>>;
export type FormErrors = Partial<Record<keyof FormValues, string>>;

const FIELD_LABEL: Record<keyof FormValues, string> = { devId: "Device ID", name: "Name", protocol: "Protocol", manufacturer: "Manufacturer", model: "Model" };

function textField(name: keyof FormValues, values: FormValues, errors: FormErrors, hint: string, opts: { required?: boolean; readonly?: boolean } = {}): string {
  const err = errors[name];
  const described = [`${name}-hint`, err ? `${name}-error` : ""].filter(Boolean).join(" ");
  return `<label for="${name}">${FIELD_LABEL[name]}${opts.required ? " (required)" : ""}<span class="hint" id="${name}-hint">${e(hint)}</span></label>
<input type="text" id="${name}" name="${name}" value="${e(values[name])}" aria-describedby="${described}"${err ? ' aria-invalid="true"' : ""}${opts.required ? " required" : ""}${opts.readonly ? " readonly" : ""} autocomplete="off" spellcheck="false">
${err ? `<p class="error" id="${name}-error">${e(err)}</p>` : ""}`;
}

function protocolField(values: FormValues, errors: FormErrors): string {
  const chosen = values.protocol ?? "DM2.0";
  const err = errors.protocol;
  return `<fieldset${err ? ' aria-describedby="protocol-error"' : ""}><legend>Protocol the device speaks</legend>
${PROTOCOLS.map((p) => `<label><input type="radio" name="protocol" value="${p}" id="protocol-${p.replace(".", "")}"${chosen === p ? " checked" : ""}> ${e(PROTOCOL_LABEL[p])}</label>`).join("\n")}
${err ? `<p class="error" id="protocol-error">${e(err)}</p>` : ""}</fieldset>`;
}

function errorSummary(errors: FormErrors): string {
  const entries = Object.entries(errors) as [keyof FormValues, string][];
  if (!entries.length) return "";
  return `<div class="summary" role="alert" id="error-summary" tabindex="-1"><h2>The form has ${entries.length === 1 ? "a problem" : `${entries.length} problems`}</h2><ul>
${entries.map(([k, v]) => `<li><a href="#${k}">${FIELD_LABEL[k]}: ${e(v)}</a></li>`).join("\n")}</ul></div>`;
}

const DEVICE_FIELDS = (values: FormValues, errors: FormErrors) => `${textField("name", values, errors, "A name you recognise, e.g. Kitchen tablet (at most 64 characters).")}
${protocolField(values, errors)}
${textField("manufacturer", values, errors, "Optional, at most 64 characters.")}
${textField("model", values, errors, "Optional, at most 64 characters.")}`;

export function registrationPage(account: string, values: FormValues = {}, errors: FormErrors = {}): string {
  return page(
    "Register a device",
    account,
    `<h1>Register a device</h1>
${errorSummary(errors)}
<form method="post" action="/dm/v2/devices/new" novalidate>
${textField("devId", values, errors, "The identifier the device reports (OMADM-DevID), e.g. IMEI:493005100592800.", { required: true })}
${DEVICE_FIELDS(values, errors)}
<button type="submit" id="register">Register</button>
</form>`,
  );
}

const when = (t: number) => new Date(t).toISOString();

export function devicePage(account: string, d: RegisteredDevice, values?: FormValues, errors: FormErrors = {}, saved = false): string {
  const v: FormValues = values ?? { name: d.name ?? "", protocol: d.protocol, manufacturer: d.manufacturer ?? "", model: d.model ?? "" };
  return page(
    `Device ${d.devId}`,
    account,
    `<h1>Device <span id="dev-id">${e(d.devId)}</span></h1>
${saved ? '<p class="ok" role="status" id="saved">Saved.</p>' : ""}
<dl id="device-info"><dt>Name</dt><dd id="info-name">${e(d.name ?? "-")}</dd><dt>Protocol</dt><dd id="info-protocol">${e(PROTOCOL_LABEL[d.protocol])}</dd>
<dt>Manufacturer</dt><dd>${e(d.manufacturer ?? "-")}</dd><dt>Model</dt><dd>${e(d.model ?? "-")}</dd>
<dt>Registered</dt><dd>${when(d.createdAt)}</dd><dt>Updated</dt><dd>${when(d.updatedAt)}</dd></dl>
<h2>Update</h2>
${errorSummary(errors)}
<form method="post" action="/dm/v2/devices/${encodeURIComponent(d.devId)}" novalidate>
${DEVICE_FIELDS(v, errors)}
<button type="submit" id="update">Save</button>
</form>`,
  );
}

export function deviceListPage(account: string, devices: RegisteredDevice[]): string {
  const rows = devices
    .map((d) => `<tr><td><a href="/dm/v2/devices/${encodeURIComponent(d.devId)}">${e(d.devId)}</a></td><td>${e(d.name ?? "")}</td><td>${e(PROTOCOL_LABEL[d.protocol])}</td></tr>`)
    .join("\n");
  return page(
    "Devices",
    account,
    `<h1>Devices</h1>${devices.length ? `<table id="devices"><thead><tr><th>Device ID</th><th>Name</th><th>Protocol</th></tr></thead><tbody>${rows}</tbody></table>` : '<p id="devices">No device registered yet.</p>'}`,
  );
}

/** x.2.4: a browser started the session; the device itself is asked to connect (notification). */
export function sessionTriggeredPage(account: string, devId: string, sessionId: string): string {
  return page(
    "Management session requested",
    account,
    `<h1>Management session requested</h1>
<p class="ok" role="status">Device <strong id="dev-id">${e(devId)}</strong> has been asked to connect (pending session <code id="session-id">${e(sessionId)}</code>).
Its DM client receives a notification and starts the session itself; the result appears under completed sessions.</p>`,
  );
}

/** What SHOW opens for a job's Display alert (1100): its text, for the device's browser component. */
export function displayPage(items: string[]): string {
  return page("Message from your operator", "", `<h1>Message from your operator</h1>\n${items.map((t) => `<p class="display">${e(t)}</p>`).join("\n")}`);
}
