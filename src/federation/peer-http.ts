// Every request this gateway makes to another operator goes through here: the same outbound-URL
// rules as notification callbacks (no internal addresses, https unless loopback is allowed for
// local development), no redirects followed, a bounded time and a bounded answer.
import { config } from "../config";
import type { Env } from "../env";
import { callbackUrlProblem } from "../notify/callback-url";

/** How long one call to a peer may take, connection and answer included (issue 14: a few seconds at most). */
export const PEER_TIMEOUT_MS = 3_000;
/** Peers answer small JSON documents; anything larger is treated as a failure. */
const MAX_ANSWER_BYTES = 64 * 1024;

export const peerUrlPolicy = (env: Env) => ({ allowLoopback: config(env).PEER_ALLOW_LOOPBACK });

/** Why `url` may not be used to reach a peer, or undefined. */
export function peerUrlProblem(env: Env, url: string): string | undefined {
  return callbackUrlProblem(url, peerUrlPolicy(env));
}

export interface PeerAnswer {
  status: number;
  headers: Headers;
  text: string;
}

/** The peer could not be reached, did not answer in time, or answered something unusable. */
export class PeerUnavailableError extends Error {}

export async function peerFetch(env: Env, url: string, init: RequestInit, timeoutMs = PEER_TIMEOUT_MS): Promise<PeerAnswer> {
  const problem = peerUrlProblem(env, url);
  if (problem) throw new PeerUnavailableError(`refused URL ${url}: ${problem}`);
  let res: Response;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    res = await fetch(url, { ...init, redirect: "manual", signal });
  } catch (err) {
    throw new PeerUnavailableError(signal.aborted ? `no answer within ${timeoutMs} ms` : `unreachable (${err instanceof Error ? err.message : String(err)})`);
  }
  try {
    const declared = Number(res.headers.get("content-length") ?? 0);
    if (declared > MAX_ANSWER_BYTES) throw new PeerUnavailableError(`answer larger than ${MAX_ANSWER_BYTES} bytes`);
    const body = await readLimited(res, MAX_ANSWER_BYTES);
    return { status: res.status, headers: res.headers, text: body };
  } catch (err) {
    if (err instanceof PeerUnavailableError) throw err;
    throw new PeerUnavailableError(signal.aborted ? `no answer within ${timeoutMs} ms` : `answer cut off (${err instanceof Error ? err.message : String(err)})`);
  }
}

async function readLimited(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      throw new PeerUnavailableError(`answer larger than ${max} bytes`);
    }
    chunks.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) (all.set(c, at), (at += c.byteLength));
  return new TextDecoder().decode(all);
}
