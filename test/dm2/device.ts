// A small DM 2.0 device for the gateway's own tests: it starts a session, executes each command of
// a package on an in-memory tree (HGET fetches from the ServerURI, HPUT sends a node's value there)
// and answers statuses at the CONT ServerURI until END. The independent simulator lives in
// test/dm2/sim/; this one lets the tests stop, abort and misbehave at will.
import { SELF } from "cloudflare:test";
import { expect } from "vitest";
import { basicAuth, INITIATION, RESPONSE, TLS_ORIGIN, type Account } from "./helpers";

export type Command = (string | number)[];

export interface Exchange {
  method: string;
  url: string;
  status: number;
  type: string | null;
  commands?: Command[];
  body?: unknown;
}

export class TestDevice {
  readonly tree = new Map<string, string>();
  readonly exchanges: Exchange[] = [];
  /** Answers for EXEC by ClientURI (default 200). */
  execStatus = new Map<string, number>();
  readonly alertsToSend: Record<string, unknown>[] = [];

  constructor(readonly account: Account, readonly devId: string, tree: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(tree)) this.tree.set(k, v);
  }

  private async fetch(method: string, url: string, body?: BodyInit, type?: string, accept = "application/vnd.oma.dm.request+json"): Promise<Response> {
    const headers: Record<string, string> = { Authorization: basicAuth(this.account), "OMADM-DevID": this.devId, Accept: accept };
    if (type) headers["Content-Type"] = type;
    return SELF.fetch(url.startsWith("http") ? url : `${TLS_ORIGIN}${url}`, { method, headers, body });
  }

  /** Package 1 at `path` (sessions/next, sessions/id/{id}, alert); answers the server's first commands. */
  async start(path = "/dm/v2/sessions/next", alert: Record<string, unknown> = { AlertType: "urn:oma:at:dm:2.0:ClientInitiatedMgmt" }, accept?: string): Promise<Command[]> {
    const res = await this.fetch("POST", path, JSON.stringify({ Alert: [alert, ...this.alertsToSend.splice(0)] }), INITIATION, accept);
    return this.read("POST", path, res);
  }

  private async read(method: string, url: string, res: Response): Promise<Command[]> {
    const text = await res.text();
    const e: Exchange = { method, url, status: res.status, type: res.headers.get("content-type") };
    this.exchanges.push(e);
    expect(res.status, `${method} ${url}: ${text}`).toBe(200);
    e.body = JSON.parse(text);
    e.commands = (e.body as { CMD: Command[] }).CMD;
    return e.commands;
  }

  /** Executes one package; answers the statuses for everything but CONT and END. */
  async execute(cmds: Command[]): Promise<{ statuses: Record<string, unknown>[]; cont?: string; end: boolean }> {
    const statuses: Record<string, unknown>[] = [];
    let cont: string | undefined;
    let end = false;
    for (const c of cmds) {
      const [name, a, b] = c as [string, string, string];
      switch (name) {
        case "HGET": {
          const r = await this.fetch("GET", a, undefined, undefined, "*/*");
          if (r.status !== 200) statuses.push({ sc: 500 });
          else {
            this.tree.set(b, await r.text());
            statuses.push({ sc: 200 });
          }
          break;
        }
        case "HPUT":
        case "HPOST": {
          const v = this.tree.get(a);
          if (v === undefined) {
            statuses.push({ sc: 404 });
            break;
          }
          const r = await this.fetch(name === "HPUT" ? "PUT" : "POST", b, v, "text/plain; charset=utf-8");
          expect(r.status, await r.clone().text()).toBe(204);
          statuses.push({ sc: 200 });
          break;
        }
        case "DELETE":
          statuses.push({ sc: this.tree.delete(a) ? 200 : 404 });
          break;
        case "EXEC":
          statuses.push({ sc: this.execStatus.get(a) ?? 200 });
          break;
        case "GET":
          statuses.push({ sc: 200, URI: [...this.tree.keys()].filter((k) => k === a || k.startsWith(`${a}/`)) });
          break;
        case "CONT":
          cont = a;
          break;
        case "END":
          end = true;
          break;
        default:
          statuses.push({ sc: 406 });
      }
    }
    return { statuses, ...(cont ? { cont } : {}), end };
  }

  /** Sends the results of a package to its CONT ServerURI; answers the next package. */
  async report(cont: string, statuses: Record<string, unknown>[], alerts: Record<string, unknown>[] = []): Promise<Command[]> {
    const res = await this.fetch("PUT", cont, JSON.stringify({ Status: statuses, ...(alerts.length ? { Alert: alerts } : {}) }), RESPONSE);
    return this.read("PUT", cont, res);
  }

  /** A whole session: package 1, then execute and report until END. */
  async session(path?: string, alert?: Record<string, unknown>): Promise<{ packages: number }> {
    let cmds = await this.start(path, alert);
    let packages = 1;
    for (let i = 0; i < 50; i++) {
      const { statuses, cont, end } = await this.execute(cmds);
      if (end || !cont) return { packages };
      cmds = await this.report(cont, statuses, this.alertsToSend.splice(0));
      packages++;
    }
    throw new Error("session did not end");
  }
}
