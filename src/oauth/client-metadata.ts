// Client registration fields owned by the authorization server (RFC 7591 §2 names where one exists),
// spread into the admin API's registration schema so that the admin routes need not know them.
import { z } from "@hono/zod-openapi";
import type { ClientAbout } from "./client-object";

const HttpsUrl = z
  .string()
  .max(512)
  .url()
  .refine((u) => u.startsWith("https://"), "an https URL");

export const clientMetadataFields = {
  resource_server: z
    .boolean()
    .optional()
    .openapi({ description: "A resource server may introspect tokens issued to other clients (RFC 7662 §4); other clients see only their own tokens as active." }),
  publisher: z.string().min(1).max(128).optional().openapi({ description: "Who publishes the application, shown on the consent page." }),
  client_uri: HttpsUrl.optional().openapi({ description: "The application's home page (RFC 7591), linked from the consent page." }),
  logo_uri: HttpsUrl.optional().openapi({ description: "The application's logo (RFC 7591), shown on the consent page." }),
  policy_uri: HttpsUrl.optional().openapi({ description: "The application's privacy policy (RFC 7591), linked from the consent page." }),
  tos_uri: HttpsUrl.optional().openapi({ description: "The application's terms of service (RFC 7591), linked from the consent page." }),
};

type MetadataInput = { [K in keyof typeof clientMetadataFields]?: z.infer<(typeof clientMetadataFields)[K]> };

/** The registration's metadata, as the client object stores it. */
export function clientMetadata(body: MetadataInput): { resourceServer: boolean; about: ClientAbout } {
  const about: ClientAbout = {};
  for (const k of ["publisher", "client_uri", "logo_uri", "policy_uri", "tos_uri"] as const) if (body[k] !== undefined) about[k] = body[k];
  return { resourceServer: body.resource_server === true, about };
}

/** The same fields in a registration's answer. */
export function clientMetadataView(m: { resourceServer?: boolean; about?: ClientAbout }) {
  return { resource_server: m.resourceServer === true, ...(m.about ?? {}) };
}
