// A SyncML session as text: what the client sent and what the server answered, message by message.
// Used in test failure messages and by the simulator's command line (./cli.ts); no workerd imports.
import type { SessionResult } from "./simulator";

/** A compact transcript of a session, for failure messages. */
export function story(s: SessionResult): string {
  const lines = [`session ${s.sessionId} (${s.initiator}) -> ${s.outcome}${s.error ? `: ${s.error}` : ""}`];
  for (const e of s.exchanges) {
    const req = e.request.body.map((c) => `${c.kind}${"data" in c && typeof c.data === "string" && c.kind !== "Status" ? `(${c.data})` : ""}${c.kind === "Status" ? `(${c.cmd} ${c.data})` : ""}`).join(" ");
    lines.push(`  C${e.request.header.msgId} ${e.requestBytes}B${e.request.header.cred ? " +Cred" : ""}${e.request.final ? " Final" : ""} -> ${e.url}: ${req}`);
    if (e.response) {
      const res = e.response.body.map((c) => (c.kind === "Status" ? `Status(${c.cmd}#${c.msgRef}.${c.cmdRef} ${c.data})` : c.kind === "Alert" ? `Alert(${c.data})` : `${c.kind}${"items" in c && c.items[0]?.target ? `(${c.items[0].target.locURI})` : ""}`)).join(" ");
      lines.push(`  S${e.response.header.msgId} ${e.responseBytes}B auth=${e.serverAuth}/${e.serverNonceUsed ?? "-"}${e.response.final ? " Final" : ""}: ${res}`);
    } else lines.push(`  HTTP ${e.httpStatus}: ${(e.responseText ?? "").slice(0, 300)}`);
  }
  if (s.violations.length) lines.push("  violations:", ...s.violations.map((v) => `    - ${v}`));
  return lines.join("\n");
}
