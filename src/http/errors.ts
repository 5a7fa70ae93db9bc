// One error envelope for the whole gateway: OMA REST NetAPI `requestError`.
// Handlers and Durable Objects throw ApiError; app.onError turns it into the response.
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";

export type ExceptionKind = "serviceException" | "policyException";

/** OMA common and Twinning-registered exception texts (OMA-TS-REST_NetAPI_Common, Twinning RD). */
export const EXCEPTION_TEXT = {
  SVC0001: "A service error occurred. Error code is %1",
  SVC0002: "Invalid input value for message part %1",
  SVC0003: "Invalid input value for message part %1, valid values are %2",
  SVC0005: "Duplicate correlator %1",
  SVC1014: "Undefined twinning role",
  POL0001: "A policy error occurred. Error code is %1",
  POL1037: "Twinning role mixture not allowed",
  POL1038: "Twinning data update not allowed",
} as const;
export type MessageId = keyof typeof EXCEPTION_TEXT;

export interface RequestErrorBody {
  requestError: Partial<Record<ExceptionKind, { messageId: string; text: string; variables: string[] }>>;
}

export interface ApiErrorData {
  status: ContentfulStatusCode;
  messageId: MessageId;
  variables: string[];
  headers: Record<string, string>;
}

/** An error the client should see. Durable Objects return it as an {@link Outcome}, never throw it across RPC. */
export class ApiError extends Error {
  override readonly name = "ApiError";
  constructor(
    readonly status: ContentfulStatusCode,
    readonly messageId: MessageId,
    readonly variables: string[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(`${messageId} ${variables.join(": ")}`);
  }

  static from(data: ApiErrorData): ApiError {
    return new ApiError(data.status, data.messageId, data.variables, data.headers);
  }

  toData(): ApiErrorData {
    return { status: this.status, messageId: this.messageId, variables: this.variables, headers: this.headers };
  }

  get kind(): ExceptionKind {
    return this.messageId.startsWith("POL") ? "policyException" : "serviceException";
  }

  body(): RequestErrorBody {
    // Every variable neutralised here, the one place errors are rendered: an echo a site forgot is still safe to show.
    const variables = this.variables.map(neutralise);
    return { requestError: { [this.kind]: { messageId: this.messageId, text: fillTemplate(EXCEPTION_TEXT[this.messageId], variables), variables } } };
  }
}

/**
 * Characters that would hide or reorder an error text shown to a person or written to a console:
 * C0 and C1 controls, bidi controls (U+202E turns "txt.exe" into what reads as "exe.txt"), and
 * invisible formatting characters.
 */
const UNSHOWABLE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/g;

/** `text` with every unshowable character written as `\uXXXX`; idempotent (the escape is plain ASCII). */
export const neutralise = (text: string): string =>
  text.replace(UNSHOWABLE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** How much of a client's value an error text repeats. */
export const ECHO_MAX = 64;

/**
 * A value from the request, as an error text repeats it: at most `max` characters (then "…"), never
 * a half of a surrogate pair, neutralised. An id of 10 000 characters would otherwise come back twice
 * (in `text` and in `variables`), and the text is meant to be read.
 */
export function echo(value: string, max = ECHO_MAX): string {
  if (value.length <= max) return neutralise(value);
  const cut = /[\ud800-\udbff]/.test(value[max - 1]!) ? max - 1 : max;
  return `${neutralise(value.slice(0, cut))}…`;
}

/**
 * The exception's text with its variables in place (OMA-TS-REST_NetAPI_Common: `%n` is the n-th
 * variable), so the text reads on its own; variables the template has no place for follow it, after
 * a colon ("Invalid input value for message part body: malformed JSON"). `variables` stays as it is.
 */
export function fillTemplate(template: string, variables: readonly string[]): string {
  let highest = 0;
  const text = template.replace(/%(\d+)/g, (_, n: string) => {
    highest = Math.max(highest, Number(n));
    return variables[Number(n) - 1] ?? "";
  });
  const rest = variables.slice(highest);
  return rest.length ? `${text}: ${rest.join(": ")}` : text;
}

/** 400 SVC0002 naming the message part that was wrong, with what was expected. */
export const invalidInput = (part: string, why?: string) =>
  new ApiError(400, "SVC0002", why ? [part, why] : [part]);
/** 404 for an unknown resource id; names the part of the URL that did not resolve, and its value (echoed, capped), with `note` after it. */
export const notFound = (part: string, value: string, note?: string) => new ApiError(404, "SVC0002", [part, `${echo(value)}${note ? ` ${note}` : ""} not found`]);
/** 403 POL1037: a claim that would mix twinning roles (HLF-TE-008/009). */
export const roleMixture = (why: string) => new ApiError(403, "POL1037", [why]);
export const policyError = (status: ContentfulStatusCode, code: string, headers: Record<string, string> = {}) =>
  new ApiError(status, "POL0001", [code], headers);
export const serviceError = (status: ContentfulStatusCode, code: string) => new ApiError(status, "SVC0001", [code]);

/**
 * What a Durable Object method answers: its value, or the API error the caller should raise.
 * Thrown errors would cross RPC as bare messages and be logged by the runtime as uncaught; an
 * expected refusal (a used code, a role conflict) is a result, not a crash.
 */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: ApiErrorData };

export function outcome<T>(fn: () => T | Promise<T>): Promise<Outcome<T>> {
  // A synchronous fn (most reads) answers without another turn of the microtask queue.
  let value: T | Promise<T>;
  try {
    value = fn();
  } catch (err) {
    return refused(err);
  }
  if (isPromiseLike(value)) return Promise.resolve(value).then((v) => ({ ok: true as const, value: v }), refused);
  return Promise.resolve({ ok: true, value });
}

function isPromiseLike<T>(v: T | PromiseLike<T>): v is PromiseLike<T> {
  return typeof (v as { then?: unknown } | null)?.then === "function";
}

/** An ApiError becomes the refusal; anything else stays a failure (a rejected promise). */
function refused(err: unknown): Promise<{ ok: false; error: ApiErrorData }> {
  if (err instanceof ApiError) return Promise.resolve({ ok: false, error: err.toData() });
  return Promise.reject(err);
}

/** The value of an outcome, or its error thrown for app.onError to render. */
export function unwrap<T>(result: Outcome<T>): T {
  if (result.ok) return result.value;
  throw ApiError.from(result.error);
}

export function errorResponse(c: Context, err: unknown): Response {
  const error = err;
  if (error instanceof ApiError) {
    return c.json(error.body(), error.status, error.headers);
  }
  if (error instanceof HTTPException) {
    const api = error.status === 413 ? invalidInput("body", "request body too large") : serviceError(error.status as ContentfulStatusCode, error.message || "request refused");
    return c.json(api.body(), error.status as ContentfulStatusCode);
  }
  // Unexpected: log the correlator, never the request body or headers (they carry secrets).
  console.error(`internal error correlator=${c.get("correlator") ?? "-"}`, error instanceof Error ? error.stack : String(error));
  return c.json(serviceError(500, "internal error").body(), 500);
}
