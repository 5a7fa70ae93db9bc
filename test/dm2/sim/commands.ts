// The device side of the DM 2.0 commands (OMA-TS-DM_Protocol-V2_0 §6 as publicly described): each
// command a positional JSON array, executed in order against the device's own tree, each answered
// with a Status object {"sc": code, ...}. Written from the protocol description, not from the server.
//
//   ["HGET", ServerURI, ClientURI, cv?]   GET the ServerURI, store the body at ClientURI (add or replace);
//                                         with a validator (cv) sent as If-None-Match, 304 leaves the node
//   ["HPUT", ClientURI, ServerURI]        PUT the node's value (an interior node as JSON) to the ServerURI
//   ["HPOST", ClientURI, ServerURI]       the same with POST
//   ["DELETE", ClientURI]                 delete the node and its subtree (405 on a permanent node)
//   ["EXEC", ClientURI, data?, corr?]     run it: 200 now, or 202 and later an Alert carrying the correlator
//   ["GET", ClientURI]                    Status.URI: the ClientURIs at and below it
//   ["SUB", ClientURI] / ["UNSUB", ...]   report the device's own changes below it as Alerts / stop
//   ["DEFAULT", ServerURI]                the DM server to contact from now on
//   ["SHOW", ServerURI]                   open the page in the browser component
//   ["CONT", ServerURI] / ["END"]         session control: no status of their own

import type { AuthClient } from "./http-auth";
import { ManagementTree, type NodeValue } from "./tree";

export type Dm2Command = (string | number)[];

export interface Dm2Status {
  sc: number;
  URI?: string[];
  [extra: string]: unknown;
}

export interface Dm2Alert {
  AlertType: string;
  SourceURI?: string;
  TargetURI?: string;
  Mark?: string;
  DataType?: string;
  Data?: string | number | boolean;
  Correlator?: string;
}

/** The alert a device sends for a change below a SUB'd node (decided here: the public text names none). */
export const NODE_CHANGE_ALERT = "urn:oma:at:dm:2.0:MOChange";

export const SESSION_CONTROL = new Set(["CONT", "END"]);
export const ALL_COMMANDS = ["HGET", "HPUT", "HPOST", "DELETE", "EXEC", "GET", "SUB", "UNSUB", "CONT", "END", "DEFAULT", "SHOW"] as const;

export interface ShownPage {
  url: string;
  status: number;
  contentType: string | null;
  html: string;
}

export interface PendingExec {
  clientUri: string;
  correlator?: string;
  alertType: string;
  data?: string;
  sc: number;
}

/** What a command may touch besides the tree. */
export interface CommandContext {
  tree: ManagementTree;
  http: AuthClient;
  /** Async EXECs whose result Alert is still to be sent. */
  pendingExecs: PendingExec[];
  shownPages: ShownPage[];
  setDefaultServer(url: string): void;
}

const isText = (type: string | null) => !type || /^text\/|[/+]json\b|[/+]xml\b/i.test(type);

function isHttpUrl(value: unknown): value is string {
  if (typeof value !== "string") return false;
  try {
    const u = new URL(value);
    return u.protocol === "https:" || u.protocol === "http:";
  } catch {
    return false;
  }
}

function httpToSc(status: number): number {
  if (status >= 200 && status < 300) return 200;
  if (status === 304 || status === 404 || status === 415) return status;
  return 500;
}

export async function executeCommand(cmd: Dm2Command, ctx: CommandContext): Promise<Dm2Status> {
  const [name, a, b, c] = cmd;
  const { tree } = ctx;
  const clientNode = (arg: unknown) => (typeof arg === "string" ? tree.resolve(arg) : undefined);
  switch (name) {
    case "HGET": {
      const uri = clientNode(b);
      if (!isHttpUrl(a) || uri === undefined) return { sc: 400 };
      if (tree.isPermanent(uri)) return { sc: 405 };
      const headers: Record<string, string> = { Accept: "*/*" };
      if (typeof c === "string" && c) headers["If-None-Match"] = c;
      const res = await ctx.http.request(a, { method: "GET", headers });
      if (res.status === 304) return (await res.arrayBuffer(), { sc: 304 });
      if (res.status !== 200) return (await res.arrayBuffer(), { sc: httpToSc(res.status) });
      const type = (res.headers.get("Content-Type") ?? "text/plain").split(";")[0]!.trim();
      const value: NodeValue = isText(type) ? await res.text() : new Uint8Array(await res.arrayBuffer());
      tree.set(uri, value, type);
      return { sc: 200 };
    }
    case "HPUT":
    case "HPOST": {
      const uri = clientNode(a);
      if (uri === undefined || !isHttpUrl(b)) return { sc: 400 };
      if (!tree.exists(uri)) return { sc: 404 };
      const leaf = tree.leaf(uri);
      let body: string | Uint8Array;
      let type: string;
      if (leaf?.value !== undefined) {
        body = leaf.value;
        type = leaf.type;
      } else {
        body = JSON.stringify(tree.snapshotBelow(uri));
        type = "application/json";
      }
      const res = await ctx.http.request(b, { method: name === "HPUT" ? "PUT" : "POST", headers: { "Content-Type": type }, body });
      await res.arrayBuffer();
      return { sc: httpToSc(res.status) };
    }
    case "DELETE": {
      const uri = clientNode(a);
      if (uri === undefined) return { sc: 400 };
      if (!tree.exists(uri)) return { sc: 404 };
      if (tree.isPermanent(uri)) return { sc: 405 };
      tree.delete(uri);
      return { sc: 200 };
    }
    case "EXEC": {
      const uri = clientNode(a);
      if (uri === undefined) return { sc: 400 };
      const node = tree.leaf(uri);
      if (!node && !tree.exists(uri)) return { sc: 404 };
      const exec = node?.exec;
      if (!exec) return { sc: 405 };
      const data = typeof b === "string" && b !== "" ? b : undefined;
      const correlator = typeof c === "string" && c !== "" ? c : undefined;
      if (exec.mode === "sync") {
        exec.run?.(data);
        return { sc: exec.sc ?? 200 };
      }
      ctx.pendingExecs.push({ clientUri: typeof a === "string" ? a : uri, correlator, alertType: exec.alertType, data: exec.resultData, sc: exec.sc ?? 200 });
      return { sc: 202 };
    }
    case "GET": {
      const uri = clientNode(a);
      if (uri === undefined) return { sc: 400 };
      if (!tree.exists(uri)) return { sc: 404 };
      return { sc: 200, URI: tree.subtree(uri) };
    }
    case "SUB": {
      const uri = clientNode(a);
      if (uri === undefined) return { sc: 400 };
      if (!tree.exists(uri)) return { sc: 404 };
      tree.subscribe(uri);
      return { sc: 200 };
    }
    case "UNSUB": {
      const uri = clientNode(a);
      if (uri === undefined) return { sc: 400 };
      return { sc: tree.unsubscribe(uri) ? 200 : 404 };
    }
    case "DEFAULT": {
      if (!isHttpUrl(a)) return { sc: 400 };
      ctx.setDefaultServer(a);
      return { sc: 200 };
    }
    case "SHOW": {
      if (!isHttpUrl(a)) return { sc: 400 };
      // The browser component opens the page: a browser's request, text/html first.
      const res = await ctx.http.request(a, { method: "GET", headers: { Accept: "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8" } });
      const html = await res.text();
      ctx.shownPages.push({ url: a, status: res.status, contentType: res.headers.get("Content-Type"), html });
      return { sc: httpToSc(res.status) };
    }
    case "CONT":
    case "END":
      throw new Error(`${name} is session control, handled by the session`);
    default:
      // A command this device does not know: "optional feature not supported".
      return { sc: 406 };
  }
}

/** The Alerts a result package carries: finished async EXECs are sent separately (see Dm2Device). */
export function changeAlerts(tree: ManagementTree): Dm2Alert[] {
  return tree.takeChanges().map((change) => ({
    AlertType: NODE_CHANGE_ALERT,
    SourceURI: change.uri,
    ...(change.value === undefined ? {} : { DataType: "text/plain", Data: typeof change.value === "string" ? change.value : "" }),
  }));
}
