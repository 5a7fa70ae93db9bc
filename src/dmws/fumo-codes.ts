// OMA-TS-DM_FUMO-V1_0 result codes (the Data of generic alert 1226) and State node values, and the
// SCOMO result codes of urn:oma:at:scomo:1.0:OperationComplete, each with its name.

export const FUMO_ALERT_PREFIX = "org.openmobilealliance.dm.firmwareupdate.";
export const SCOMO_ALERT = "urn:oma:at:scomo:1.0:OperationComplete";

const FUMO_RESULTS: Record<number, string> = {
  200: "Successful",
  400: "Management Client error",
  401: "User chose not to accept the operation when prompted",
  402: "Corrupted firmware update package",
  403: "Firmware update package - device mismatch",
  404: "Failed firmware update package validation (signature)",
  405: "Firmware update package not acceptable",
  406: "Alternate download authentication failure",
  407: "Alternate download request time-out",
  408: "Not implemented",
  409: "Undefined error",
  410: "Firmware update failed",
  411: "Malformed or bad URL",
  412: "Alternate download server unavailable",
  500: "Alternate download server error",
  501: "Download fails due to device is out of memory",
  502: "Firmware update fails due to device out of memory",
  503: "Download fails due to network issues",
};

/** 200 and 250-299 are success; 400-599 failure. */
export function fumoResult(code: string): { success: boolean; name: string } {
  const n = Number(code);
  if (!/^[0-9]{3}$/.test(code.trim())) return { success: false, name: `not a FUMO result code: ${code}` };
  const success = n === 200 || (n >= 250 && n <= 299);
  const name =
    FUMO_RESULTS[n] ??
    (n >= 250 && n <= 299 ? "Successful - vendor specified" :
      n >= 450 && n <= 499 ? "Client error - vendor specified" :
        n >= 550 && n <= 599 ? "Alternate download server error - vendor specified" :
          n >= 500 && n <= 599 ? "Download server or device error" :
            n >= 400 && n <= 499 ? "Client error" : "Unknown result code");
  return { success, name };
}

export const FUMO_STATES: Record<string, string> = {
  "10": "Idle / Start",
  "20": "Download Failed",
  "30": "Download Progressing",
  "40": "Download Complete",
  "50": "Ready to Update",
  "60": "Update Progressing",
  "70": "Update Failed / Have Data",
  "80": "Update Failed / No Data",
  "90": "Update Successful / Have Data",
  "100": "Update Successful / No Data",
};

const SCOMO_RESULTS: Record<number, string> = {
  1200: "Successful",
  1400: "Client error",
  1401: "User cancelled",
  1402: "Download failed",
  1403: "Alternate download authentication failure",
  1404: "Download failed due to device out of memory",
  1405: "Install failed",
  1406: "Install failed due to device out of memory",
  1407: "Failed package validation",
  1408: "Remove failed",
  1409: "Activate failed",
  1410: "Deactivate failed",
  1411: "Not implemented",
  1412: "Undefined error",
  1413: "Operation rejected - unsupported environment",
  1500: "Download server error",
  1501: "Alternate download server unavailable",
};

/** 1200 and 1250-1299 are success (FUMO-style 200/250-299 too, as some clients send); 1400-1599 failure. */
export function scomoResult(code: string): { success: boolean; name: string } {
  const n = Number(code);
  if (!/^[0-9]{3,4}$/.test(code.trim())) return { success: false, name: `not a SCOMO result code: ${code}` };
  if (n < 1000) return fumoResult(code);
  const success = n === 1200 || (n >= 1250 && n <= 1299);
  const name = SCOMO_RESULTS[n] ?? (success ? "Successful - vendor specified" : n >= 1450 && n <= 1499 ? "Client error - vendor specified" : n >= 1550 ? "Server error - vendor specified" : "Unknown result code");
  return { success, name };
}
