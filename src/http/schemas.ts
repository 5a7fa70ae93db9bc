import { z } from "@hono/zod-openapi";

/** A subscriber's address: a tel: URI with an E.164 number (every capability names subscribers so). */
export const TEL_URI = /^tel:\+[1-9][0-9]{1,14}$/;

export const MnoSchema = z
  .object({
    mcc: z.string().regex(/^[0-9]{3}$/, "three digits").openapi({ example: "001" }),
    mnc: z.string().regex(/^[0-9]{2,3}$/, "two or three digits").openapi({ example: "01" }),
  })
  .strict()
  .openapi("Mno", { description: "Identity of a mobile network operator (MCC/MNC)." });
export type Mno = z.infer<typeof MnoSchema>;

const ExceptionSchema = z.object({
  messageId: z.string().openapi({ example: "SVC0002" }),
  text: z.string().openapi({ example: "Invalid input value for message part activationCode", description: "The exception's template (OMA-TS-REST_NetAPI_Common) with its variables in place (%n the n-th); variables it has no place for follow after a colon" }),
  variables: z.array(z.string()).openapi({ example: ["activationCode"] }),
});

export const RequestErrorSchema = z
  .object({
    requestError: z.object({ serviceException: ExceptionSchema.optional(), policyException: ExceptionSchema.optional() }),
  })
  .openapi("RequestError", { description: "OMA REST NetAPI error envelope." });

const errorContent = { "application/json": { schema: RequestErrorSchema } };
export const errorResponses = (...codes: number[]) =>
  Object.fromEntries(
    codes.map((code) => [
      code,
      {
        description: {
          400: "Invalid input (SVC0002 names the part)",
          401: "Missing or invalid credentials",
          403: "Wrong scope, another subscriber, or a twinning role conflict (POL1037)",
          404: "Unknown resource",
          413: "Request body too large",
          415: "Body is not application/json",
          429: "Too many failed activation code attempts",
          503: "A dependent object did not answer in time; nothing was changed",
        }[code] ?? "Error",
        content: errorContent,
      },
    ]),
  );

/** A JSON response of `schema` (OpenAPI response object). */
export const json = <T>(schema: T, description: string) => ({ content: { "application/json": { schema } }, description });
/** A required JSON request body of `schema`. */
export const jsonBody = <T, R extends boolean = true>(schema: T, required?: R) => ({
  body: { content: { "application/json": { schema } }, required: (required ?? true) as R },
});

const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/**
 * A number or boolean of an OMA REST NetAPI request. OMA's JSON rules let these travel as strings
 * (`"maxNotifications":"1"`, `"channelLifetime":"7200"`, `"flag":"true"`), so both forms are
 * accepted and the handler (and every answer) sees the typed value. Only a string that is exactly
 * a JSON number, or `"true"`/`"false"`, is converted; anything else fails `schema` as it would.
 * Use it on request schemas only: answers carry real numbers and booleans. `description` is the
 * field's own text; the OpenAPI description adds that the string form is accepted.
 */
export function omaValue<T extends z.ZodNumber | z.ZodBoolean>(schema: T, description?: string) {
  const boolean = schema instanceof z.ZodBoolean;
  // The bounds of `schema`, as its own JSON Schema says them, so the documentation keeps them.
  const { $schema: _, type, ...bounds } = z.toJSONSchema(schema) as { $schema?: string; type?: string } & Record<string, unknown>;
  const note = boolean ? "A boolean, or the string `\"true\"` or `\"false\"` (OMA JSON)." : "A number, or a string holding one (OMA JSON); answers carry the number.";
  return z
    .preprocess((v) => {
      if (typeof v !== "string") return v;
      if (boolean) return v === "true" ? true : v === "false" ? false : v;
      return JSON_NUMBER.test(v) ? Number(v) : v;
    }, schema)
    .openapi({
      ...bounds,
      type: [type as "integer" | "number" | "boolean", "string"],
      ...(boolean ? { enum: [true, false, "true", "false"] } : { pattern: JSON_NUMBER.source }),
      description: description ? `${description} ${note}` : note,
    });
}
