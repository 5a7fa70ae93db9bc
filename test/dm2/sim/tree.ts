// The simulated device's management tree: nodes addressed by absolute ClientURIs ("./DevInfo/Mod")
// or by MO identifier ("urn:oma:mo:oma-dm-devinfo:1.0//Mod" = the MO's root, then the path).
// Written from the DM 2.0 protocol's description of the tree, not from the server's code.

export type NodeValue = string | Uint8Array;

/** What an EXEC does on the device: "sync" finishes now (200), "async" later (202, then an Alert). */
export type ExecBehaviour =
  | { mode: "sync"; sc?: number; run?: (data: string | undefined) => void }
  | { mode: "async"; alertType: string; resultData?: string; sc?: number };

export interface TreeNode {
  value?: NodeValue;
  /** The node value's media type (text/plain for text). */
  type: string;
  /** A permanent node cannot be deleted or replaced (405). */
  permanent?: boolean;
  exec?: ExecBehaviour;
}

export interface NodeChange {
  uri: string;
  value: NodeValue | undefined;
}

const ROOT = ".";

export class ManagementTree {
  private readonly nodes = new Map<string, TreeNode>();
  /** MO identifier → the absolute URI of its root (the MOs this device reports). */
  private readonly moRoots = new Map<string, string>();
  private readonly subscriptions = new Set<string>();
  private readonly changes: NodeChange[] = [];

  constructor(initial: Record<string, string | TreeNode> = {}) {
    for (const [uri, node] of Object.entries(initial)) {
      this.nodes.set(normalize(uri), typeof node === "string" ? { value: node, type: "text/plain" } : node);
    }
  }

  registerMo(moId: string, rootUri: string): void {
    this.moRoots.set(moId, normalize(rootUri));
  }

  /** A ClientURI as an absolute tree URI, or undefined when it names no MO this device has. */
  resolve(clientUri: string): string | undefined {
    if (clientUri === ROOT || clientUri.startsWith("./")) return normalize(clientUri);
    const split = clientUri.indexOf("//");
    if (!clientUri.startsWith("urn:oma:mo:") || split < 0) return undefined;
    const root = this.moRoots.get(clientUri.slice(0, split));
    if (!root) return undefined;
    const rest = clientUri.slice(split + 2).replace(/\/+$/, "");
    return rest ? `${root}/${rest}` : root;
  }

  /** A leaf, or an interior node that exists because something lives below it. */
  exists(uri: string): boolean {
    return this.nodes.has(uri) || this.below(uri).length > 0;
  }

  leaf(uri: string): TreeNode | undefined {
    return this.nodes.get(uri);
  }

  /** The URIs of the leaves strictly below `uri`. */
  below(uri: string): string[] {
    const prefix = uri === ROOT ? "./" : `${uri}/`;
    return [...this.nodes.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** The node and everything below it, interior nodes included, in tree order. */
  subtree(uri: string): string[] {
    const out = new Set<string>();
    if (this.nodes.has(uri) || uri !== ROOT) out.add(uri);
    const prefix = uri === ROOT ? "./" : `${uri}/`;
    for (const leaf of this.below(uri)) {
      const parts = leaf.slice(prefix.length).split("/");
      for (let i = 1; i <= parts.length; i++) out.add(prefix + parts.slice(0, i).join("/"));
    }
    return [...out].filter((u) => this.exists(u)).sort();
  }

  isPermanent(uri: string): boolean {
    return this.nodes.get(uri)?.permanent === true || this.below(uri).some((u) => this.nodes.get(u)?.permanent);
  }

  /** Add or replace a leaf (the device has no separate Add: HGET does both). */
  set(uri: string, value: NodeValue, type = "text/plain", origin: "server" | "device" = "server"): void {
    const previous = this.nodes.get(uri);
    this.nodes.set(uri, { ...previous, value, type });
    this.noteChange(uri, value, origin);
  }

  /** Remove a node and its subtree. */
  delete(uri: string, origin: "server" | "device" = "server"): void {
    for (const leaf of [uri, ...this.below(uri)]) this.nodes.delete(leaf);
    this.noteChange(uri, undefined, origin);
  }

  subscribe(uri: string): void {
    this.subscriptions.add(uri);
  }

  unsubscribe(uri: string): boolean {
    return this.subscriptions.delete(uri);
  }

  isSubscribed(uri: string): boolean {
    return this.subscriptions.has(uri);
  }

  /** Changes of subscribed nodes not yet reported to the server. */
  takeChanges(): NodeChange[] {
    return this.changes.splice(0);
  }

  /** A plain snapshot of the leaves, text values as strings. */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [uri, node] of [...this.nodes].sort(([a], [b]) => a.localeCompare(b))) {
      if (node.value === undefined) continue;
      out[uri] = typeof node.value === "string" ? node.value : `base64:${toBase64(node.value)}`;
    }
    return out;
  }

  /** An interior node's leaves, by path relative to it (what HPUT of an interior node sends). */
  snapshotBelow(uri: string): Record<string, string> {
    const prefix = uri === ROOT ? "./" : `${uri}/`;
    const all = this.snapshot();
    return Object.fromEntries(Object.entries(all).filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  }

  // SUB reports changes the device itself makes (a user, an app, an EXEC finishing); what the server
  // changes in a session it already knows.
  private noteChange(uri: string, value: NodeValue | undefined, origin: "server" | "device"): void {
    if (origin !== "device") return;
    if ([...this.subscriptions].some((s) => uri === s || uri.startsWith(s === ROOT ? "./" : `${s}/`))) this.changes.push({ uri, value });
  }
}

export function normalize(uri: string): string {
  const trimmed = uri.replace(/\/+$/, "");
  return trimmed === "" ? ROOT : trimmed;
}

export function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

export function fromBase64(text: string): Uint8Array {
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}
