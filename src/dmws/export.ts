// NDJSON and CSV exports, streamed a page at a time (ReadableStream with pull): nothing is built in
// memory beyond one page, whatever the size of the export.

export type ExportFormat = "ndjson" | "csv";
export const EXPORT_TYPES: Record<ExportFormat, string> = { ndjson: "application/x-ndjson", csv: "text/csv; charset=utf-8" };

type Page<T> = { items: T[]; nextCursor?: string };

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
export function csvField(v: unknown): string {
  const s = v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Rows (flat objects) from `pages`, as NDJSON lines or CSV with `columns` as the header. */
export function exportStream<T>(format: ExportFormat, columns: readonly string[], page: (cursor: string | undefined) => Promise<Page<T>>, rows: (item: T) => Record<string, unknown>[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  let cursor: string | undefined;
  let started = false;
  let done = false;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (done) return controller.close();
      let text = "";
      if (!started && format === "csv") text += `${columns.join(",")}\r\n`;
      const p = await page(started ? cursor : undefined);
      started = true;
      for (const item of p.items) {
        for (const row of rows(item)) {
          text += format === "csv" ? `${columns.map((c) => csvField(row[c])).join(",")}\r\n` : `${JSON.stringify(row)}\n`;
        }
      }
      cursor = p.nextCursor;
      if (!cursor) done = true;
      if (text) controller.enqueue(enc.encode(text));
      if (done) controller.close();
    },
  });
}
