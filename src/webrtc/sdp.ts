// SDP bodies (RFC 8866) as WebRTC endpoints produce them (JSEP, RFC 8829), and trickled ICE
// candidates (RFC 8839). The gateway does not negotiate media, but it refuses what no peer could
// use, with the line and the rule that failed, so a client bug shows up at the API and not as a
// silent call failure on the other device.

export interface SdpSummary {
  /** Media type of each m= section, in order (RFC 3264 §6: an answer has the same sections). */
  media: string[];
}

export class SdpError extends Error {}

const TYPE_ORDER_SESSION = "vosiuepcbtrzka";
const MEDIA_TYPES = new Set(["audio", "video", "text", "application", "message"]);
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/;
const PROTO = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+(\/[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+)*$/;
/** Longest body accepted; Chromium's offers with audio, video and data are 4-8 KiB. */
export const MAX_SDP_BYTES = 32 * 1024;

/**
 * Parses `sdp` far enough to know it is a usable WebRTC session description. Throws SdpError
 * naming the line and what was expected.
 */
export function checkSdp(sdp: string): SdpSummary {
  if (sdp.length === 0) throw new SdpError("empty session description");
  if (new TextEncoder().encode(sdp).length > MAX_SDP_BYTES) throw new SdpError(`longer than ${MAX_SDP_BYTES} bytes`);
  // RFC 8866 §5 wants CRLF; a bare LF is tolerated, as every deployed parser does.
  const lines = sdp.replace(/\r?\n$/, "").split(/\r?\n/);
  const media: string[] = [];
  const sessionAttrs = new Set<string>();
  let sectionAttrs: Set<string> | undefined;
  let sectionPort = 0;
  let sectionLine = 0;
  const sections: { attrs: Set<string>; port: number; line: number }[] = [];
  let lastSessionType = -1;
  let seen = "";

  lines.forEach((line, i) => {
    const n = i + 1;
    const at = (why: string) => new SdpError(`line ${n}: ${why}`);
    if (/[\x00\r]/.test(line)) throw at("control character inside a line");
    const m = /^([a-z])=(.*)$/.exec(line);
    if (!m) throw at(`expected "<type>=<value>", got ${JSON.stringify(line.slice(0, 40))}`);
    const [, type, value] = m as unknown as [string, string, string];
    if (n === 1 && type !== "v") throw at("the first line must be v=0");
    if (type === "v" && (n !== 1 || value !== "0")) throw at("v=0 expected as the first and only version line");
    if (type === "m") {
      const f = value.split(" ");
      if (f.length < 4 || !MEDIA_TYPES.has(f[0]!) || !/^\d{1,5}(\/\d+)?$/.test(f[1]!) || Number(f[1]!.split("/")[0]) > 65535 || !PROTO.test(f[2]!) || f.slice(3).some((x) => !TOKEN.test(x))) {
        throw at('expected "m=<audio|video|text|application|message> <port> <proto> <fmt> ..."');
      }
      if (sectionAttrs) sections.push({ attrs: sectionAttrs, port: sectionPort, line: sectionLine });
      media.push(f[0]!);
      sectionAttrs = new Set();
      sectionPort = Number(f[1]!.split("/")[0]);
      sectionLine = n;
      return;
    }
    if (!sectionAttrs) {
      const order = TYPE_ORDER_SESSION.indexOf(type);
      if (order < 0) throw at(`"${type}=" is not a session-level line (RFC 8866 §5)`);
      // t= may repeat with its r= lines; everything else keeps RFC 8866's order.
      if (order < lastSessionType && !(type === "t" || type === "r")) throw at(`"${type}=" out of order (RFC 8866 §5)`);
      if ("vost".includes(type) && type !== "t" && seen.includes(type)) throw at(`"${type}=" appears twice`);
      lastSessionType = Math.max(lastSessionType, order);
    } else if (!"icbka".includes(type)) {
      throw at(`"${type}=" is not allowed inside a media section`);
    }
    seen += type;
    switch (type) {
      case "o":
        if (!/^\S+ \d+ \d+ IN IP[46] \S+$/.test(value)) throw at('expected "o=<username> <sess-id> <sess-version> IN IP4|IP6 <address>"');
        break;
      case "s":
        if (value.length === 0) throw at('s= must not be empty (use "s=-")');
        break;
      case "t":
        if (!/^\d+ \d+$/.test(value)) throw at('expected "t=<start> <stop>"');
        break;
      case "c":
        if (!/^IN IP[46] \S+$/.test(value)) throw at('expected "c=IN IP4|IP6 <address>"');
        break;
      case "a": {
        const name = /^([!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+)(?::(.*))?$/.exec(value);
        if (!name) throw at('expected "a=<attribute>" or "a=<attribute>:<value>"');
        if (name[1] === "fingerprint" && !/^\S+ [0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/.test(name[2] ?? "")) throw at('expected "a=fingerprint:<hash> <hex:hex:...>"');
        if (name[1] === "setup" && !/^(actpass|active|passive|holdconn)$/.test(name[2] ?? "")) throw at("a=setup must be actpass, active, passive or holdconn");
        (sectionAttrs ?? sessionAttrs).add(name[1]!);
        break;
      }
    }
  });
  if (sectionAttrs) sections.push({ attrs: sectionAttrs, port: sectionPort, line: sectionLine });
  for (const t of ["o", "s", "t"]) if (!seen.includes(t)) throw new SdpError(`missing the mandatory "${t}=" line`);
  if (media.length === 0) throw new SdpError('no media section ("m=" line)');
  // WebRTC media is always ICE + DTLS (RFC 8829 §5.2, RFC 8827): a section that is in use needs
  // ICE credentials and a DTLS fingerprint, at session or media level.
  for (const s of sections) {
    if (s.port === 0 && !s.attrs.has("bundle-only")) continue;
    for (const attr of ["ice-ufrag", "ice-pwd", "fingerprint"]) {
      if (!s.attrs.has(attr) && !sessionAttrs.has(attr)) throw new SdpError(`line ${s.line}: media section without a=${attr} (WebRTC needs ICE and DTLS)`);
    }
  }
  return { media };
}

/** RFC 3264 §6: the answer has exactly the offer's m= sections, of the same media types, in order. */
export function answerMatchesOffer(offer: SdpSummary, answer: SdpSummary): string | undefined {
  if (offer.media.length !== answer.media.length) return `the answer has ${answer.media.length} media sections, the offer ${offer.media.length} (RFC 3264 §6)`;
  const i = offer.media.findIndex((m, k) => answer.media[k] !== m);
  return i >= 0 ? `media section ${i + 1} is ${answer.media[i]} in the answer but ${offer.media[i]} in the offer (RFC 3264 §6)` : undefined;
}

/**
 * An RTCIceCandidateInit's candidate attribute (RFC 8839 §5.1), as browsers trickle it, with or
 * without the "candidate:" prefix; the empty string means end of candidates. Undefined when valid.
 */
export function candidateProblem(candidate: string): string | undefined {
  if (candidate === "") return undefined;
  const c = candidate.startsWith("a=") ? candidate.slice(2) : candidate;
  const m = /^(?:candidate:)?([A-Za-z0-9+/]{1,32}) (\d{1,3}) ([A-Za-z]+) (\d{1,10}) (\S+) (\d{1,5}) typ ([A-Za-z0-9-]+)((?: \S+ \S+)*)$/.exec(c);
  if (!m) return 'expected "candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ..." (RFC 8839 §5.1)';
  if (Number(m[2]) < 1 || Number(m[2]) > 256) return "component id must be 1 to 256";
  if (Number(m[6]) > 65535) return "port above 65535";
  if (Number(m[4]) > 2 ** 32 - 1) return "priority above 2^32-1";
  return undefined;
}
