// Extracts the shell blocks of README.md and runs them in order, the way a reader copies them into
// one terminal: variables and functions set by one block are there in the next.
//
// The rules a README block follows (also in the README's "Working on the README" note):
// - a fence ```sh, ```bash or ```shell is run; any other fence (json, text, mermaid, ...) is not;
// - an HTML comment `<!-- norun: why -->` on the line before a fence skips that block (the reason is required);
// - blocks use `$G` for the base URL and set it as `G=${G:-http://127.0.0.1:8787}`, so the test can point them
//   at its own server; they run under `set -euo pipefail`, so a failing command fails its block;
// - a block must work when the whole README runs twice in a row against the same state.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";

export interface ShellBlock {
  /** The heading path above the block, e.g. "OAuth 2.0 authorization server (Autho4API) > The flows, against `npm start`". */
  heading: string;
  /** 1-based line of the opening fence in README.md. */
  line: number;
  code: string;
  /** Why it is not run (from `<!-- norun: ... -->`), or undefined when it is. */
  norun?: string;
}

const RUN_LANGS = new Set(["sh", "bash", "shell"]);

export function extractShellBlocks(markdown: string): ShellBlock[] {
  const lines = markdown.split("\n");
  const headings: string[] = [];
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const heading = /^(#{1,6})\s+(.*)$/.exec(lines[i]!);
    if (heading) {
      headings.length = heading[1]!.length - 1;
      headings[heading[1]!.length - 1] = heading[2]!.trim();
      continue;
    }
    const fence = /^(\s*)(```+|~~~+)\s*([\w-]*)/.exec(lines[i]!);
    if (!fence) continue;
    const [, , marker, lang] = fence;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i]!.trimStart().startsWith(marker!); i++) body.push(lines[i]!);
    if (!RUN_LANGS.has(lang!.toLowerCase())) continue;
    let prev = start - 1;
    while (prev >= 0 && lines[prev]!.trim() === "") prev--;
    const norun = prev >= 0 ? /^<!--\s*norun:\s*(.+?)\s*-->$/.exec(lines[prev]!.trim())?.[1] : undefined;
    blocks.push({ heading: headings.filter(Boolean).slice(1).join(" > ") || headings.filter(Boolean).join(" > "), line: start + 1, code: body.join("\n"), norun });
  }
  return blocks;
}

export function readmeBlocks(path: string): ShellBlock[] {
  return extractShellBlocks(readFileSync(path, "utf8"));
}

export interface BlockResult {
  code: number | null;
  output: string;
}

export class BlockFailure extends Error {}

/**
 * Runs blocks in order in a fresh shell session: each block is its own `bash` (its own process group, so
 * whatever it leaves in the background is stopped at the end), with the variables and functions of the
 * blocks before it.
 */
export async function runBlocks(
  blocks: ShellBlock[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; stateFile: string; timeoutMs?: number; log?: (s: string) => void },
): Promise<void> {
  const groups: number[] = [];
  // The variables a fresh bash has on its own, so only the reader's are carried to the next block.
  const saveState =
    `__save() { { for __v in $(compgen -v); do case "$__BASELINE" in *" $__v "*) ;; *) declare -p "$__v" 2>/dev/null | grep -v '^declare -[a-zA-Z]*r' || true ;; esac; done; declare -f; } > "$__STATE"; }`;
  const prelude = [
    `__BASELINE=" $(compgen -v | tr '\\n' ' ') __BASELINE __v "`,
    saveState,
    `[ -f "$__STATE" ] && . "$__STATE"`,
    "set -euo pipefail",
    "trap __save EXIT",
  ].join("\n");
  try {
    for (const block of blocks) {
      if (block.norun) continue;
      const script = `${prelude}\n${block.code}\n`;
      const result = await new Promise<BlockResult>((resolve, reject) => {
        const child = spawn("bash", ["-c", script], {
          cwd: opts.cwd,
          env: { ...opts.env, __STATE: opts.stateFile },
          detached: true,
          stdio: ["ignore", "pipe", "pipe"],
        });
        if (child.pid) groups.push(child.pid);
        let output = "";
        child.stdout.setEncoding("utf8").on("data", (c: string) => (output += c));
        child.stderr.setEncoding("utf8").on("data", (c: string) => (output += c));
        const timer = setTimeout(() => {
          try {
            process.kill(-child.pid!, "SIGKILL");
          } catch {}
          output += `\n[timed out after ${opts.timeoutMs ?? 60_000} ms]`;
        }, opts.timeoutMs ?? 60_000);
        child.on("error", reject);
        // "exit", not "close": a background job the block started keeps the pipes open.
        child.on("exit", (code) => {
          clearTimeout(timer);
          setTimeout(() => resolve({ code, output }), 50);
        });
      });
      opts.log?.(`--- README.md:${block.line} (${block.heading}) exit ${result.code}\n${result.output}`);
      if (result.code !== 0) {
        throw new BlockFailure(
          `README block under "${block.heading}" (README.md line ${block.line}) failed with exit ${result.code}.\n` +
            `--- the block ---\n${block.code}\n--- its output ---\n${result.output.slice(-6000)}`,
        );
      }
    }
  } finally {
    for (const pgid of groups) {
      try {
        process.kill(-pgid, "SIGTERM");
      } catch {}
    }
  }
}
