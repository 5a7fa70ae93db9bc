// The shape of Notification Channel URLs, shared by the routes and by anything that logs URLs.

/** A channel id: 128 random bits, base64url. */
export const CHANNEL_ID = /^[A-Za-z0-9_-]{22}$/;

const CHANNEL_IN_URL = /(\/notificationchannel\/v1\/[^/?#\s]+\/channels\/)[A-Za-z0-9_-]{22}/g;

/**
 * `text` with every channel id inside a channel URL replaced: a channelURL is a capability (whoever
 * has it reads the channel), so log lines carry `…/channels/<redacted>/poll` instead.
 */
export function redactChannelUrls(text: string): string {
  return text.replace(CHANNEL_IN_URL, "$1<redacted>");
}
