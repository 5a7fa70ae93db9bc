import { z } from "@hono/zod-openapi";

const ExceptionSchema = z.object({
  messageId: z.string().openapi({ example: "SVC0002" }),
  text: z.string().openapi({ example: "Invalid input value for message part %1" }),
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
