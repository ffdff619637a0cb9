// What every store records about itself, on disk (shard/manifest.ts) and in Redis (the redis
// driver's manifest hash): the layout version and the hash that routes keys to shards.

/** Version of the store layout and manifest format. */
export const FORMAT_VERSION = 1;

/** Name of the hash that routes keys to shards (FNV-1a 32-bit, shard/router.ts). */
export const HASH_NAME = "fnv1a32";
