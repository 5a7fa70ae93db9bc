// The twinning part of the RFC 8628 device grant, plugged into the authorization server when the
// app is mounted (src/index.ts): the user code is the secondary's activation code (HLF-SD-001), the
// device polls until a primary has entered it, and the response names the MNO that generated it.
import type { DeviceAuthorizer } from "../oauth/hooks";
import { OAuthError } from "../oauth/errors";
import { codeTtlMs, homeMnos } from "./policy";
import { MnoSchema, type Mno } from "./schemas";
import { subscriberStub } from "../residency";

export const twinningDeviceAuthorization: DeviceAuthorizer = async ({ env, issuer, subject, clientId, scope, form }) => {
  let primaryMno: Mno | undefined;
  if (form.has("primary_mno")) {
    const m = form.get("primary_mno")!.match(/^([0-9]{3})-([0-9]{2,3})$/);
    const parsed = m && MnoSchema.safeParse({ mcc: m[1], mnc: m[2] });
    if (!parsed?.success) throw new OAuthError("invalid_request", "primary_mno must be MCC-MNC, e.g. 001-01");
    primaryMno = parsed.data;
  }
  const issued = await subscriberStub(env, subject).authorizeDevice(primaryMno, homeMnos(env), codeTtlMs(env), { clientId, scope });
  if (!issued.ok) throw new OAuthError("invalid_request", issued.error.variables.join(": "));
  const { code, deviceCode, interval, expiresAt, mno } = issued.value;
  return { userCode: code, deviceCode: deviceCode!, interval: interval!, expiresAt, verificationUri: `${issuer}/twinning/v1/acr:Authorization/twins`, extra: { mno } };
};
