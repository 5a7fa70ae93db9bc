// The first schema failure of a request, in words a client can act on. A union (e.g. a DM job's command,
// one shape per `kind`) fails as a whole with zod's bare "Invalid input"; this looks into its branches:
// when the input chose a branch (its `kind` is one of them), that branch's own failure is reported;
// when it chose none, the discriminator's accepted values are listed.
import type { z } from "zod";

type Issue = z.core.$ZodIssue;

export interface ExplainedIssue {
  path: PropertyKey[];
  message: string;
}

export function explainIssue(issue: Issue): ExplainedIssue {
  if (issue.code !== "invalid_union" || issue.errors.length === 0) return { path: issue.path, message: issue.message };
  // Per branch: the discriminator key it refused (an invalid_value at depth 1) and the values it takes.
  const refusals = issue.errors.map((branch) => branch.find((i): i is z.core.$ZodIssueInvalidValue => i.code === "invalid_value" && i.path.length === 1));
  const chosen = issue.errors.filter((branch, n) => branch.length > 0 && !refusals[n]);
  if (chosen.length > 0) {
    const best = chosen.reduce((a, b) => (b.length < a.length ? b : a));
    const inner = explainIssue(best[0]!);
    return { path: [...issue.path, ...inner.path], message: inner.message };
  }
  const key = refusals[0]?.path[0];
  if (key !== undefined && refusals.every((r) => r && r.path[0] === key)) {
    const values = [...new Set(refusals.flatMap((r) => r!.values.map(String)))];
    return { path: [...issue.path, key], message: `one of ${values.join(", ")}` };
  }
  return { path: issue.path, message: issue.message };
}
