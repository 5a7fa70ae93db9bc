// The codec's command line (npm run codec) on Node, over the same codec.wasm as the Worker.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

const root = join(import.meta.dirname, "..", "..");
const cli = join(root, "scripts", "codec-cli.mjs");
const corpus = join(root, "test", "codec", "corpus", "xml");
const golden = JSON.parse(readFileSync(join(root, "test", "codec", "corpus", "golden.json"), "utf8")) as Record<string, { wbxml: string }>;
const tmp = mkdtempSync(join(tmpdir(), "codec-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const run = (args: string[], input?: Buffer) => spawnSync(process.execPath, [cli, ...args], { input, cwd: root });

describe("npm run codec", () => {
  const file = readdirSync(corpus).find((f) => f.includes("pkg2-server"))!;
  const name = file.slice(0, -4);

  it("converts XML to WBXML between files, byte-identical to libwbxml's golden vector", () => {
    const out = join(tmp, "out.wbxml");
    expect(run(["xml2wbxml", join(corpus, file), out]).status).toBe(0);
    expect(readFileSync(out).toString("base64")).toBe(golden[name]!.wbxml);
  });

  it("converts WBXML to XML through stdin and stdout", () => {
    const r = run(["wbxml2xml", "-", "-"], Buffer.from(golden[name]!.wbxml, "base64"));
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(/^<\?xml version="1.0"\?><!DOCTYPE SyncML .*<SyncML xmlns="SYNCML:SYNCML1.2">/);
  });

  it("decodes package 0 to JSON", () => {
    const pkg = Buffer.from("1063394ec1c3b4e98435ac795ff3d39c033800000012340e636f6d2e6578616d706c652e646d76656e646f722d64617461", "hex");
    const r = run(["pkg0", "decode", "-"], pkg);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout.toString())).toMatchObject({ version: 12, uiMode: "user-interaction", initiator: "server", sessionId: 0x1234, serverId: "com.example.dm" });
  });

  it("exits 1 naming the byte offset and what was expected on bad input, 2 on bad usage", () => {
    const r = run(["wbxml2xml", "-", "-"], Buffer.from([3, 0xa4, 1, 0x6a, 0, 0x6d, 0x7f]));
    expect(r.status).toBe(1);
    expect(r.stderr.toString()).toBe("codec: at byte 6: expected a tag token defined on code page 0, not 0x3F [token]\n");
    expect(run(["nonsense"]).status).toBe(2);
    expect(() => execFileSync(process.execPath, [cli], { stdio: "ignore" })).toThrow();
  });
});
