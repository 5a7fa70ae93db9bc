#!/usr/bin/env node
// Prints a device-key assertion (an HS256 JWT signed with the subscriber's device key), as the
// network's device authentication would make it: for the jwt-bearer grant, login_hint_token and
// device authorization. Usage:
//   node scripts/device-assertion.mjs KEY_B64URL tel:+15551230001 CLIENT_ID AUDIENCE_URL
import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";

const [key, sub, clientId, aud] = process.argv.slice(2);
if (!key || !sub || !clientId || !aud) {
  console.error("usage: device-assertion.mjs KEY_B64URL tel:+E164 CLIENT_ID AUDIENCE_URL");
  process.exit(2);
}
const jwt = await new SignJWT({})
  .setProtectedHeader({ alg: "HS256" })
  .setIssuer(clientId)
  .setSubject(sub)
  .setAudience(aud)
  .setIssuedAt()
  .setExpirationTime("2m")
  .setJti(randomUUID())
  .sign(Buffer.from(key, "base64url"));
process.stdout.write(jwt + "\n");
