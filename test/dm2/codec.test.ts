// The DM 2.0 JSON packages and media types, checked on their own: every command's shape, the
// place named in each error, and content negotiation over the four media types.
import { describe, expect, it } from "vitest";
import { parseCommandPackage, parseJsonBody, parseResultPackage, parseInitiationPackage } from "../../src/dm/v2/commands";
import { negotiate, requestType, wantsHtml } from "../../src/dm/v2/media-types";
import { ApiError } from "../../src/http/errors";
import { translate, outcomeOf, uploadOf, sequenceStatus } from "../../src/dm/v2/translate";

const where = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ApiError) return { status: err.status, variables: err.variables };
    throw err;
  }
  return undefined;
};

describe("DM 2.0 command packages", () => {
  it("accepts every command of the vocabulary with its positional arguments", () => {
    const cmds = parseCommandPackage({
      CMD: [
        ["HGET", "https://s.example/d/1", "urn:oma:mo:oma-dm-devinfo:1.0//", "W/\"etag\""], ["HPUT", "./DevInfo/Mod", "https://s.example/d/2"], ["HPOST", "./A", "https://s.example/d/3"],
        ["DELETE", "./A/B"], ["EXEC", "./FUMO/1/Update", "", "corr-1"], ["GET", "./FUMO"], ["SUB", "./A"], ["UNSUB", "./A"],
        ["DEFAULT", "https://s.example/dm"], ["SHOW", "https://s.example/ui"], ["CONT", "https://s.example/s/1"], ["END"],
      ],
    });
    expect(cmds.map((c) => c[0])).toEqual(["HGET", "HPUT", "HPOST", "DELETE", "EXEC", "GET", "SUB", "UNSUB", "DEFAULT", "SHOW", "CONT", "END"]);
  });

  it("names the exact place of a wrong command: unknown name, missing argument, wrong type, extra argument", () => {
    expect(where(() => parseCommandPackage({ CMD: [["FETCH", "./A"]] }))?.variables[0]).toBe("body.CMD[0][0]");
    expect(where(() => parseCommandPackage({ CMD: [["END"], ["DELETE"]] }))?.variables[0]).toBe("body.CMD[1]");
    expect(where(() => parseCommandPackage({ CMD: [["HPUT", "./A", 7]] }))?.variables[0]).toBe("body.CMD[0][2]");
    expect(where(() => parseCommandPackage({ CMD: [["END", "x"]] }))?.variables[0]).toBe("body.CMD[0]");
    expect(where(() => parseCommandPackage({ CMD: [["HGET", "ftp://x", "./A"]] }))?.variables[0]).toBe("body.CMD[0][1]");
    expect(where(() => parseCommandPackage({ CMD: [] }))?.variables[0]).toBe("body.CMD");
    expect(where(() => parseCommandPackage({ CMD: [["END"]], Extra: 1 }))?.variables[0]).toBe("body.Extra");
  });

  it("checks results and alerts: sc a status code (also as a string), alert fields strict", () => {
    expect(parseResultPackage({ Status: [{ sc: 200 }, { sc: "404" }, { sc: 200, URI: ["./A/B"] }] }).Status!.map((s) => s.sc)).toEqual([200, 404, 200]);
    expect(where(() => parseResultPackage({ Status: [{ sc: 200 }, { sc: 99 }] }))?.variables[0]).toBe("body.Status[1].sc");
    expect(where(() => parseResultPackage({ Status: [{}] }))?.variables[0]).toBe("body.Status[0].sc");
    expect(where(() => parseResultPackage({ Alert: [{ AlertType: "urn:x", Colour: "red" }] }))?.status).toBe(400);
    expect(where(() => parseInitiationPackage({ Alert: [{}] }))?.variables[0]).toBe("body.Alert[0].AlertType");
    expect(parseInitiationPackage(undefined)).toEqual({});
  });

  it("malformed JSON and invalid UTF-8 are 400 naming the body", () => {
    expect(where(() => parseJsonBody(new TextEncoder().encode('{"CMD": [')))?.variables).toEqual(["body", expect.stringMatching(/^malformed JSON/)]);
    expect(where(() => parseJsonBody(new Uint8Array([0x7b, 0xff, 0x7d])))?.variables).toEqual(["body", "invalid UTF-8"]);
  });
});

describe("DM 2.0 media types", () => {
  it("takes the four types (and plain JSON); anything else is 415", () => {
    for (const t of ["application/vnd.omadm-cmd+json", "application/vnd.oma.dm.initiation+json", "application/vnd.oma.dm.request+json", "application/vnd.oma.dm.response+json; charset=utf-8"]) expect(requestType(t, true)).toBe(t.split(";")[0]);
    expect(where(() => requestType("application/xml", true))?.status).toBe(415);
    expect(where(() => requestType(undefined, true))?.status).toBe(415);
    expect(requestType(undefined, false)).toBeUndefined();
  });

  it("answers in the type the client asked for, else the counterpart of what it sent; 406 when nothing fits", () => {
    expect(negotiate("application/vnd.omadm-cmd+json", undefined)).toEqual({ kind: "json", type: "application/vnd.omadm-cmd+json" });
    expect(negotiate("application/vnd.oma.dm.request+json", "application/vnd.omadm-cmd+json")).toEqual({ kind: "json", type: "application/vnd.oma.dm.request+json" });
    expect(negotiate(undefined, "application/vnd.omadm-cmd+json")).toEqual({ kind: "json", type: "application/vnd.omadm-cmd+json" });
    expect(negotiate("*/*", "application/vnd.oma.dm.initiation+json")).toEqual({ kind: "json", type: "application/vnd.oma.dm.request+json" });
    expect(negotiate("application/xml;q=1, application/vnd.omadm-cmd+json;q=0.5", undefined)).toEqual({ kind: "json", type: "application/vnd.omadm-cmd+json" });
    expect(where(() => negotiate("application/xml", undefined))).toEqual({ status: 406, variables: ["Accept", expect.any(String)] });
    expect(wantsHtml("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")).toBe(true);
    expect(wantsHtml("application/vnd.omadm-cmd+json, text/html")).toBe(false);
  });
});

describe("job commands as DM 2.0 commands", () => {
  const url = (i: number) => `https://s/d/${i}`;
  it("Get → HPUT, Add/Replace → HGET, Delete → DELETE, Exec → EXEC with correlator; Copy, Atomic, Alert answered 406 without being sent", () => {
    const t = translate(
      [{ jobId: "j", commands: [
        { path: [0], command: { kind: "Get", target: "./DevInfo/Mod" } }, { path: [1], command: { kind: "Replace", target: "./A", data: "1" } },
        { path: [2], command: { kind: "Delete", target: "./B" } }, { path: [3], command: { kind: "Exec", target: "./FUMO/1/Update", correlator: "c1" } },
        { path: [4], command: { kind: "Copy", target: "./C" } }, { path: [5], command: { kind: "Atomic", children: [] } },
        { path: [6], command: { kind: "Sequence", children: [{ kind: "Add", target: "./S/1", data: "x" }, { kind: "Get", target: "./S/1" }] } },
      ] }],
      url,
    );
    expect(t.commands).toEqual([["HPUT", "./DevInfo/Mod", url(0)], ["HGET", url(1), "./A"], ["DELETE", "./B"], ["EXEC", "./FUMO/1/Update", "", "c1"], ["HGET", url(4), "./S/1"], ["HPUT", "./S/1", url(5)]]);
    expect(t.immediate.map((i) => [i.path, i.outcome.status])).toEqual([[[4], "406"], [[5], "406"]]);
    expect(t.inFlight.map((f) => f.path)).toEqual([[0], [1], [2], [3], [6, 0], [6, 1]]);
    expect(t.sequences).toEqual([{ jobId: "j", path: [6], children: 2 }]);
  });

  it("a Get's uploaded text becomes its result as a DM 1.2 Results item reads (format chr, type text/plain); bytes become b64", () => {
    const f = { index: 0, name: "HPUT" as const, jobId: "j", path: [0], target: "./DevInfo/Mod" };
    expect(outcomeOf(f, { sc: 200 }, uploadOf(new TextEncoder().encode("SmartWatch 3"), "text/plain; charset=utf-8"))).toEqual({ status: "200", results: [{ source: "./DevInfo/Mod", data: "SmartWatch 3", format: "chr", type: "text/plain" }] });
    expect(uploadOf(new Uint8Array([0, 255]), "application/octet-stream")).toEqual({ data: "AP8=", format: "b64", type: "application/octet-stream" });
    expect(outcomeOf(f, { sc: 404 }, undefined)).toEqual({ status: "404" });
    expect(outcomeOf(f, undefined, undefined).error).toBeTruthy();
    expect(sequenceStatus([{ status: "200" }, { status: "404" }])).toBe("404");
    expect(sequenceStatus([{ status: "200" }, undefined])).toBeUndefined();
  });
});
