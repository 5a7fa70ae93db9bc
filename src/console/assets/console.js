// The operator console (served at /console). Plain DOM, no framework, nothing from elsewhere: every
// action is one call of the admin API with the admin token kept in this tab's sessionStorage.
// Text from the API is always set with textContent, never parsed as HTML.
"use strict";
(() => {
  const TOKEN_KEY = "oma-edge.adminToken";
  const JOBS_KEY = "oma-edge.jobs";
  const SCOPES = JSON.parse(document.body.dataset.scopes || "[]");
  const app = document.getElementById("app");
  const logout = document.getElementById("logout");

  // ------------------------------------------------------------------ small DOM helpers
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }
  const when = (iso) => (iso ? new Date(iso).toLocaleString() : "");
  const enc = encodeURIComponent;

  /** A list as a table on a wide screen, as stacked cards on a phone (console.css): each cell names its column. */
  function table(columns, rows, empty) {
    if (!rows.length) return h("p", { class: "empty" }, empty);
    return h("table", {},
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c.title)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", { "data-label": c.title }, c.cell(r)))))));
  }

  let flashTimer;
  function flash(text, kind) {
    let el = document.getElementById("flash");
    if (!el) app.prepend((el = h("div", { id: "flash", role: "status" })));
    el.textContent = text;
    el.className = kind || "info";
    clearTimeout(flashTimer);
    if (kind !== "error") flashTimer = setTimeout(() => { el.textContent = ""; el.className = ""; }, 8000);
  }

  /** A secret shown once, with a button to copy it. */
  function secretBox(label, value) {
    return h("div", { class: "secret", role: "alert" },
      h("p", {}, label, " It is shown only now."),
      h("code", { "data-secret": "" }, value),
      h("button", { type: "button", onclick: () => navigator.clipboard?.writeText(value) }, "Copy"));
  }

  // ------------------------------------------------------------------ the admin API
  class ApiError extends Error {
    constructor(status, text) { super(text); this.status = status; }
  }
  async function api(method, path, body) {
    const headers = { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    if (!res.ok) {
      const e = json && json.requestError && Object.values(json.requestError)[0];
      // The gateway fills the OMA template: its text reads on its own.
      const why = e ? e.text : `HTTP ${res.status}`;
      throw new ApiError(res.status, why);
    }
    return json;
  }
  /** Runs `fn`, showing its error instead of throwing. */
  const guarded = (fn) => async (ev) => {
    ev?.preventDefault?.();
    try { await fn(ev); } catch (err) { flash(err.message, "error"); }
  };
  const confirmThen = (question, fn) => guarded(async (ev) => { if (window.confirm(question)) await fn(ev); });

  // ------------------------------------------------------------------ login
  function loginView() {
    logout.hidden = true;
    const input = h("input", { id: "admin-token", type: "password", autocomplete: "off", required: true, "aria-describedby": "token-help" });
    const error = h("p", { class: "error", role: "alert" });
    const form = h("form", { class: "card login", onsubmit: async (ev) => {
      ev.preventDefault();
      sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      try {
        await api("GET", "/admin/v1/subscribers?limit=1");
        render();
      } catch (err) {
        sessionStorage.removeItem(TOKEN_KEY);
        error.textContent = err.status === 401 ? "That is not the admin token." : err.message;
      }
    } },
      h("h2", {}, "Sign in"),
      h("label", { for: "admin-token" }, "Admin token"),
      input,
      h("p", { id: "token-help", class: "help" }, "The gateway's ADMIN_TOKEN. It is kept in this tab only and sent only to this gateway."),
      h("button", { type: "submit" }, "Sign in"),
      error);
    app.replaceChildren(form);
    input.focus();
  }

  // ------------------------------------------------------------------ navigation
  const SECTIONS = [["subscribers", "Subscribers"], ["clients", "Clients"], ["devices", "Devices"], ["jobs", "DM jobs"], ["campaigns", "Campaigns"], ["audit", "Audit log"]];
  function nav(current) {
    return h("nav", { "aria-label": "Sections" }, SECTIONS.map(([id, title]) => h("a", { href: `#${id}`, "aria-current": current === id ? "page" : undefined }, title)));
  }
  /** A message for the next view (after a navigation, which redraws the page). */
  let pendingFlash = "";
  function frame(current, ...content) {
    logout.hidden = false;
    app.replaceChildren(h("div", { id: "flash", role: "status" }), nav(current), h("section", { id: `view-${current}` }, ...content));
    if (pendingFlash) {
      flash(pendingFlash);
      pendingFlash = "";
    }
  }

  // ------------------------------------------------------------------ subscribers
  async function subscribersView(params) {
    const prefix = params.get("prefix") || "";
    const cursor = params.get("cursor") || "";
    const q = new URLSearchParams({ limit: "25", ...(prefix ? { prefix } : {}), ...(cursor ? { cursor } : {}) });
    const list = await api("GET", `/admin/v1/subscribers?${q}`);
    const search = h("input", { id: "subscriber-search", type: "search", value: prefix, placeholder: "tel:+1555…", "aria-label": "Number starts with" });
    frame("subscribers",
      h("h2", {}, "Subscribers"),
      h("form", { class: "row", role: "search", onsubmit: (ev) => { ev.preventDefault(); location.hash = `#subscribers?${new URLSearchParams({ prefix: search.value.trim() })}`; } },
        search, h("button", { type: "submit" }, "Find")),
      table([
        { title: "Number", cell: (s) => h("a", { href: `#subscriber/${enc(s.address)}` }, s.address) },
        { title: "MNO", cell: (s) => `${s.mno.mcc}-${s.mno.mnc}` },
        { title: "Role", cell: (s) => s.role },
        { title: "Provisioned", cell: (s) => when(s.createdAt) },
      ], list.subscribers, prefix ? `No subscriber's number starts with ${prefix}.` : "No subscribers yet."),
      list.cursor ? h("a", { class: "more", href: `#subscribers?${new URLSearchParams({ prefix, cursor: list.cursor })}` }, "Next page") : null);
  }

  async function subscriberView(address) {
    const [{ subscriber }, twinning, grants] = await Promise.all([
      api("GET", `/admin/v1/subscribers/${enc(address)}`),
      api("GET", `/admin/v1/subscribers/${enc(address)}/twins`),
      api("GET", `/admin/v1/subscribers/${enc(address)}/tokens`),
    ]);
    const refresh = () => route();
    frame("subscribers",
      h("p", {}, h("a", { href: "#subscribers" }, "← Subscribers")),
      h("h2", {}, subscriber.address),
      h("dl", { class: "facts" },
        h("dt", {}, "MNO"), h("dd", {}, `${subscriber.mno.mcc}-${subscriber.mno.mnc}`),
        h("dt", {}, "Role"), h("dd", {}, subscriber.role),
        h("dt", {}, "Provisioned"), h("dd", {}, when(subscriber.createdAt))),
      h("h3", {}, "Twins"),
      table([
        { title: "Name", cell: (t) => t.name },
        { title: "Secondary", cell: (t) => t.twinId },
        { title: "Status", cell: (t) => t.status },
        { title: "Since", cell: (t) => when(t.activatedAt) },
        { title: "", cell: (t) => h("button", { class: "danger", "data-end-twin": t.twinId, onclick: confirmThen(`End the twin ${t.name} (${t.twinId})? Both devices are told.`, async () => {
          await api("DELETE", `/admin/v1/subscribers/${enc(address)}/twins/${enc(t.twinId)}`);
          await refresh();
          flash(`Twin ${t.name} ended.`);
        }) }, "End twin") },
      ], twinning.twins, "No twins."),
      twinning.relationship ? h("p", { class: "relationship" }, `Twinned as a secondary of ${twinning.relationship.primary} ("${twinning.relationship.name}", ${twinning.relationship.status}).`) : null,
      h("h3", {}, "Grants"),
      table([
        { title: "Client", cell: (g) => g.clientId },
        { title: "Scope", cell: (g) => g.scope },
        { title: "Until", cell: (g) => when(g.expiresAt) },
        { title: "State", cell: (g) => (g.active ? "active" : g.revokedAt ? `revoked ${when(g.revokedAt)}` : "expired") },
        { title: "", cell: (g) => (g.active ? h("button", { class: "danger", onclick: confirmThen(`Revoke this grant of ${g.clientId}? Its tokens stop working.`, async () => {
          await api("DELETE", `/admin/v1/subscribers/${enc(address)}/tokens/${enc(g.familyId)}`);
          await refresh();
          flash("Grant revoked.");
        }) }, "Revoke") : "") },
      ], grants.grants, "No grants with a refresh token."),
      h("h3", {}, "Remove"),
      h("button", { class: "danger", id: "remove-subscriber", onclick: confirmThen(`Remove ${address}? Its twins end on both sides.`, async () => {
        await api("DELETE", `/admin/v1/subscribers/${enc(address)}`);
        pendingFlash = `${address} removed.`;
        location.hash = "#subscribers";
      }) }, "Remove subscriber"));
  }

  // ------------------------------------------------------------------ clients
  async function clientsView(params, shown) {
    const cursor = params.get("cursor") || "";
    const list = await api("GET", `/admin/v1/clients?${new URLSearchParams({ limit: "25", ...(cursor ? { cursor } : {}) })}`);
    const name = h("input", { id: "client-name", required: true, maxlength: 128 });
    const redirect = h("input", { id: "client-redirect", type: "url", placeholder: "https://app.example/callback" });
    const scopeBoxes = SCOPES.map((s) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "scope", value: s }), s));
    const create = h("form", { class: "card", id: "new-client", onsubmit: guarded(async () => {
      const scopes = scopeBoxes.map((l) => l.firstChild).filter((b) => b.checked).map((b) => b.value);
      const body = { name: name.value.trim(), scopes, ...(redirect.value.trim() ? { redirect_uris: [redirect.value.trim()] } : {}) };
      const c = await api("POST", "/admin/v1/clients", body);
      await clientsView(new URLSearchParams(), secretBox(`Client ${c.client_id} registered. Its secret:`, c.client_secret || "(a public client has none)"));
    }) },
      h("h3", {}, "Register a client"),
      h("label", { for: "client-name" }, "Name"), name,
      h("fieldset", {}, h("legend", {}, "Scopes"), scopeBoxes),
      h("label", { for: "client-redirect" }, "Redirect URI (for the authorization-code grant; optional)"), redirect,
      h("button", { type: "submit" }, "Register"));
    frame("clients",
      h("h2", {}, "Clients"),
      shown || null,
      table([
        { title: "Name", cell: (c) => c.name },
        { title: "client_id", cell: (c) => h("code", {}, c.client_id) },
        { title: "Scopes", cell: (c) => c.scopes.join(" ") },
        { title: "Authenticates", cell: (c) => c.token_endpoint_auth_method },
        { title: "", cell: (c) => h("span", { class: "actions" },
          c.token_endpoint_auth_method.startsWith("client_secret") ? h("button", { "data-rotate": c.client_id, onclick: confirmThen(`Rotate the secret of ${c.name}? The old one stops working now.`, async () => {
            const r = await api("POST", `/admin/v1/clients/${enc(c.client_id)}/secret`);
            await clientsView(params, secretBox(`New secret of ${c.client_id}:`, r.client_secret));
          }) }, "Rotate secret") : null,
          h("button", { class: "danger", "data-delete": c.client_id, onclick: confirmThen(`Remove the client ${c.name}?`, async () => {
            await api("DELETE", `/admin/v1/clients/${enc(c.client_id)}`);
            await clientsView(params);
            flash(`${c.name} removed.`);
          }) }, "Remove")) },
      ], list.clients, "No clients yet."),
      list.cursor ? h("a", { class: "more", href: `#clients?${new URLSearchParams({ cursor: list.cursor })}` }, "Next page") : null,
      create);
  }

  // ------------------------------------------------------------------ devices
  async function devicesView(params) {
    const cursor = params.get("cursor") || "";
    const prefix = params.get("prefix") || "";
    const list = await api("GET", `/admin/v1/devices?${new URLSearchParams({ limit: "25", ...(prefix ? { prefix } : {}), ...(cursor ? { cursor } : {}) })}`);
    const f = (id, label, attrs) => [h("label", { for: id }, label), h("input", { id, required: true, ...attrs })];
    const authType = h("select", { id: "device-auth" }, ["syncml:auth-md5", "syncml:auth-basic", "syncml:auth-MAC"].map((a) => h("option", { value: a }, a)));
    const form = h("form", { class: "card", id: "new-device", onsubmit: guarded(async () => {
      const v = (id) => document.getElementById(id).value.trim();
      const devId = v("device-id");
      const subscriber = v("device-subscriber");
      await api("PUT", `/admin/v1/devices/${enc(devId)}`, { serverId: v("device-server"), authType: authType.value, clientUsername: v("device-user"), clientPassword: v("device-password"), serverPassword: v("device-server-password"), ...(subscriber ? { subscriber } : {}) });
      await devicesView(new URLSearchParams());
      flash(`${devId} provisioned.`);
    }) },
      h("h3", {}, "Provision a device"),
      f("device-id", "Device id (its LocURI)", { placeholder: "IMEI:493005100592800" }),
      f("device-server", "Server id", { value: "oma-edge" }),
      h("label", { for: "device-auth" }, "Authentication"), authType,
      f("device-user", "Client username", {}),
      f("device-password", "Client password", { type: "password", autocomplete: "new-password", minlength: 8 }),
      f("device-server-password", "Server password", { type: "password", autocomplete: "new-password", minlength: 8 }),
      h("label", { for: "device-subscriber" }, "Subscriber (optional)"), h("input", { id: "device-subscriber", placeholder: "tel:+15551230001" }),
      h("button", { type: "submit" }, "Provision"));
    frame("devices",
      h("h2", {}, "Devices"),
      table([
        { title: "Device", cell: (d) => h("code", {}, d.devId) },
        { title: "Subscriber", cell: (d) => d.subscriber || "" },
        { title: "Auth", cell: (d) => d.authType },
        { title: "State", cell: (d) => (d.authLockedUntil ? `locked until ${new Date(d.authLockedUntil).toLocaleTimeString()}` : "ok") },
        { title: "", cell: (d) => h("span", { class: "actions" },
          h("a", { class: "button", href: `#jobs?${new URLSearchParams({ device: d.devId })}` }, "Jobs"),
          h("button", { class: "danger", "data-delete": d.devId, onclick: confirmThen(`Remove ${d.devId} with its jobs and tree?`, async () => {
            await api("DELETE", `/admin/v1/devices/${enc(d.devId)}`);
            await devicesView(params);
            flash(`${d.devId} removed.`);
          }) }, "Remove")) },
      ], list.devices, "No managed devices yet."),
      list.cursor ? h("a", { class: "more", href: `#devices?${new URLSearchParams({ prefix, cursor: list.cursor })}` }, "Next page") : null,
      form);
  }

  // ------------------------------------------------------------------ DM jobs
  /** The jobs this console queued (the API reads a job by id); kept with the token, in this tab. */
  const knownJobs = () => JSON.parse(sessionStorage.getItem(JOBS_KEY) || "[]");
  const rememberJob = (devId, jobId) => sessionStorage.setItem(JOBS_KEY, JSON.stringify([{ devId, jobId }, ...knownJobs()].slice(0, 50)));

  async function jobsView(params) {
    const device = params.get("device") || "";
    const jobs = (await Promise.all(knownJobs().filter((j) => !device || j.devId === device).map(async (j) => {
      try { return { devId: j.devId, ...(await api("GET", `/dm/v1/devices/${enc(j.devId)}/jobs/${enc(j.jobId)}`)).job }; } catch { return undefined; }
    }))).filter(Boolean);
    const devId = h("input", { id: "job-device", required: true, value: device, placeholder: "IMEI:493005100592800" });
    const kind = h("select", { id: "job-kind" }, ["Get", "Replace", "Exec", "Delete"].map((k) => h("option", { value: k }, k)));
    const target = h("input", { id: "job-target", required: true, value: "./DevInfo/Mod" });
    const data = h("input", { id: "job-data", placeholder: "for Replace and Exec" });
    const form = h("form", { class: "card", id: "new-job", onsubmit: guarded(async () => {
      const command = { kind: kind.value, target: target.value.trim(), ...(data.value && (kind.value === "Replace" || kind.value === "Exec") ? { data: data.value } : {}) };
      const { job } = await api("POST", `/dm/v1/devices/${enc(devId.value.trim())}/jobs`, { commands: [command] });
      rememberJob(devId.value.trim(), job.jobId);
      await jobsView(new URLSearchParams(device ? { device } : {}));
      flash(`Job queued; the device runs it in its next session.`);
    }) },
      h("h3", {}, "Queue a job"),
      h("label", { for: "job-device" }, "Device"), devId,
      h("label", { for: "job-kind" }, "Command"), kind,
      h("label", { for: "job-target" }, "Target (management tree URI)"), target,
      h("label", { for: "job-data" }, "Data"), data,
      h("button", { type: "submit" }, "Queue"));
    frame("jobs",
      h("h2", {}, device ? `DM jobs of ${device}` : "DM jobs"),
      h("p", { class: "help" }, "The jobs queued from this console in this tab; their state is read from the gateway."),
      table([
        { title: "Device", cell: (j) => h("code", {}, j.devId) },
        { title: "Commands", cell: (j) => j.commands.map((c) => `${c.kind} ${c.target || ""}`.trim()).join(", ") },
        { title: "State", cell: (j) => h("span", { "data-state": j.state }, j.state) },
        { title: "Answer", cell: (j) => j.commands.map((c) => (c.data !== undefined && c.status ? `${c.status} ${c.data}` : c.status || "")).join(", ") },
        { title: "Updated", cell: (j) => when(j.updatedAt) },
        { title: "", cell: (j) => (j.state === "queued" || j.state === "running" ? h("button", { class: "danger", onclick: confirmThen("Cancel this job?", async () => {
          await api("DELETE", `/dm/v1/devices/${enc(j.devId)}/jobs/${enc(j.jobId)}`);
          await jobsView(params);
        }) }, "Cancel") : "") },
      ], jobs, "No jobs queued from this console yet."),
      form);
  }

  // ------------------------------------------------------------------ campaigns
  const CAMPAIGNS = "/dmws/v1/campaigns";
  const COUNTED = [["pending", "Pending"], ["inProgress", "In progress"], ["succeeded", "Succeeded"], ["failed", "Failed"], ["timedOut", "Timed out"], ["cancelled", "Cancelled"]];
  /** What an operator may do to a campaign in each state (the API answers 409 to anything else). */
  const CAMPAIGN_ACTIONS = {
    draft: [["start", "Start"], ["cancel", "Cancel"]],
    running: [["pause", "Pause"], ["cancel", "Cancel"]],
    paused: [["resume", "Resume"], ["cancel", "Cancel"]],
  };
  const countsText = (counts) => COUNTED.filter(([k]) => counts[k]).map(([k, t]) => `${t} ${counts[k]}`).join(" · ") || "no devices";

  function campaignButtons(c, after) {
    return h("span", { class: "actions" }, (CAMPAIGN_ACTIONS[c.state] || []).map(([action, title]) =>
      h("button", { class: action === "cancel" ? "danger" : undefined, "data-campaign-action": `${action}:${c.campaignId}`,
        onclick: (action === "cancel" ? (fn) => confirmThen(`Cancel the campaign ${c.name || c.campaignId}? Devices not started are cancelled, and so are the jobs on devices.`, fn) : guarded)(async () => {
          const r = await api("POST", `${CAMPAIGNS}/${enc(c.campaignId)}/${action}`);
          await after();
          flash(`Campaign ${c.name || c.campaignId}: ${r.campaign.state}.`);
        }) }, title)));
  }

  async function campaignsView(params) {
    const before = params.get("before") || "";
    const list = await api("GET", `${CAMPAIGNS}?${new URLSearchParams({ limit: "25", ...(before ? { before } : {}) })}`);
    // The list names the campaigns; each one's state and counts come from the campaign itself.
    const campaigns = await Promise.all(list.campaignList.map(async (e) => (await api("GET", `${CAMPAIGNS}/${enc(e.campaignId)}`)).campaign));
    const totals = Object.fromEntries(COUNTED.map(([k]) => [k, campaigns.reduce((n, c) => n + (c.counts[k] || 0), 0)]));
    frame("campaigns",
      h("h2", {}, "Campaigns"),
      h("p", { class: "help" }, "One operation over many devices, in waves (created through the campaign API, ", h("code", {}, CAMPAIGNS), "). Newest first."),
      campaigns.length ? h("p", { id: "campaign-totals" }, `On this page: ${countsText(totals)}`) : null,
      table([
        { title: "Campaign", cell: (c) => h("a", { href: `#campaign/${enc(c.campaignId)}` }, c.name || c.campaignId) },
        { title: "Owner", cell: (c) => c.owner },
        { title: "State", cell: (c) => h("span", { "data-state": c.state, "data-campaign-state": c.campaignId }, c.state + (c.reason ? ` (${c.reason})` : "")) },
        { title: "Wave", cell: (c) => `${c.currentWave} of ${c.waveCount}` },
        { title: "Devices", cell: (c) => h("span", { "data-counts": c.campaignId }, `${c.counts.total}: ${countsText(c.counts)}`) },
        { title: "Created", cell: (c) => when(c.createdAt) },
        { title: "", cell: (c) => campaignButtons(c, () => campaignsView(params)) },
      ], campaigns, "No campaigns yet."),
      list.next !== undefined ? h("a", { class: "more", href: `#campaigns?${new URLSearchParams({ before: String(list.next) })}` }, "Older") : null);
  }

  async function campaignView(campaignId) {
    const [{ campaign: c }, devices] = await Promise.all([
      api("GET", `${CAMPAIGNS}/${enc(campaignId)}`),
      api("GET", `${CAMPAIGNS}/${enc(campaignId)}/devices?limit=100`),
    ]);
    frame("campaigns",
      h("p", {}, h("a", { href: "#campaigns" }, "← Campaigns")),
      h("h2", {}, c.name || c.campaignId),
      h("dl", { class: "facts" },
        h("dt", {}, "State"), h("dd", { "data-state": c.state }, c.state + (c.reason ? ` (${c.reason})` : "")),
        h("dt", {}, "Operation"), h("dd", {}, c.operation.commands.map((x) => `${x.kind} ${x.target || x.url || ""}`.trim()).join(", ")),
        h("dt", {}, "Wave"), h("dd", {}, `${c.currentWave} of ${c.waveCount}`),
        h("dt", {}, "Deadline"), h("dd", {}, when(c.deadline)),
        h("dt", {}, "Created"), h("dd", {}, when(c.createdAt))),
      h("p", {}, campaignButtons(c, () => campaignView(campaignId))),
      h("h3", {}, "Devices per state"),
      table([{ title: "Wave", cell: (w) => (w.wave === 0 ? "All" : String(w.wave)) }, ...COUNTED.map(([k, t]) => ({ title: t, cell: (w) => String(w[k]) })), { title: "Total", cell: (w) => String(w.total) }],
        [{ wave: 0, ...c.counts }, ...c.waveCounts], "No devices."),
      h("h3", {}, "Devices"),
      table([
        { title: "Device", cell: (d) => h("code", {}, d.devId) },
        { title: "Wave", cell: (d) => String(d.wave) },
        { title: "State", cell: (d) => h("span", { "data-state": d.state }, d.state) },
        { title: "Statuses", cell: (d) => (d.statuses || []).map((x) => x ?? "–").join(", ") },
        { title: "Why", cell: (d) => d.reason || "" },
      ], devices.deviceList, "No devices."),
      devices.next !== undefined ? h("p", { class: "help" }, "The first 100 devices; the API pages through the rest.") : null);
  }

  // ------------------------------------------------------------------ audit log
  async function auditView(params) {
    const cursor = params.get("cursor") || "";
    const target = params.get("target") || "";
    const log = await api("GET", `/admin/v1/audit?${new URLSearchParams({ limit: "50", ...(cursor ? { cursor } : {}), ...(target ? { target } : {}) })}`);
    frame("audit",
      h("h2", {}, "Audit log"),
      table([
        { title: "When", cell: (e) => when(e.time) },
        { title: "Who", cell: (e) => e.actor },
        { title: "What", cell: (e) => e.action },
        { title: "On", cell: (e) => h("code", {}, e.target) },
        { title: "Outcome", cell: (e) => h("span", { "data-outcome": e.outcome }, `${e.outcome} (${e.status})${e.detail ? `: ${e.detail}` : ""}`) },
      ], log.entries, "Nothing recorded yet."),
      log.cursor ? h("a", { class: "more", href: `#audit?${new URLSearchParams({ target, cursor: log.cursor })}` }, "Older") : null);
  }

  // ------------------------------------------------------------------ routing
  async function route() {
    const [path, query] = (location.hash.slice(1) || "subscribers").split("?");
    const params = new URLSearchParams(query || "");
    const [section, ...rest] = path.split("/");
    const id = rest.length ? decodeURIComponent(rest.join("/")) : "";
    try {
      if (section === "subscriber" && id) await subscriberView(id);
      else if (section === "clients") await clientsView(params);
      else if (section === "devices") await devicesView(params);
      else if (section === "jobs") await jobsView(params);
      else if (section === "campaigns") await campaignsView(params);
      else if (section === "campaign" && id) await campaignView(id);
      else if (section === "audit") await auditView(params);
      else await subscribersView(params);
    } catch (err) {
      if (err.status === 401) {
        // The token was changed on the gateway (or never right): sign in again.
        sessionStorage.removeItem(TOKEN_KEY);
        return loginView();
      }
      frame(section, h("p", { class: "error", role: "alert" }, err.message));
    }
  }
  function render() {
    if (!sessionStorage.getItem(TOKEN_KEY)) return loginView();
    return route();
  }
  logout.addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(JOBS_KEY); location.hash = ""; render(); });
  window.addEventListener("hashchange", render);
  render();
})();
