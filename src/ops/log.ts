// Structured logs: one JSON object per line (Workers Logs and `wrangler tail` index the fields), always
// with the request's correlator when there is one, and passed through redact() so no secret is written.
import { config } from "../config";
import { redact } from "./redact";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface LogFields {
  correlator?: string;
  [field: string]: unknown;
}

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Whether a line of `level` is written under the gateway's LOG_LEVEL. */
export function logs(env: object, level: LogLevel): boolean {
  return RANK[level] >= RANK[config(env).LOG_LEVEL];
}

/** Writes `{"ts","level","event",...fields}`; returns the object written. Callers check logs() first when the line is frequent. */
export function logEvent(level: LogLevel, event: string, fields: LogFields = {}): Record<string, unknown> {
  const line = { ts: new Date().toISOString(), level, event, ...(redact(fields) as Record<string, unknown>) };
  const text = JSON.stringify(line);
  if (level === "error") console.error(text);
  else if (level === "warn") console.warn(text);
  else console.log(text);
  return line;
}
