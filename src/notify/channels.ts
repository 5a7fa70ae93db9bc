// What other capabilities may ask of the Notification Channels of a subscriber.
import type { Env } from "../env";

/**
 * The subscriber `address` was removed: each of its channels is closed (WebSockets closed, held polls
 * answered, its callbackURL delivers nothing more) and the directory forgets them, so that a new
 * holder of the number starts with none and no channelURL of the previous holder hears of it.
 */
export async function closeChannelsOf(env: Env, address: string): Promise<void> {
  const ids = await env.CHANNEL_DIRECTORIES.getByName(address).removeAll();
  await Promise.all(ids.map((id) => env.CHANNELS.getByName(id).remove(address)));
}
