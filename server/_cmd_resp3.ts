// RESP3 (HELLO 3) replies: maps, nulls and verbatim strings, for connections that asked for them.
import type { Client } from "./_cmd_context.ts";
import { encodeReply, RawReply, type Reply } from "./resp.ts";

const RESP3_NULL = new RawReply(new TextEncoder().encode("_\r\n"));
const NULL_ARRAY = new RawReply(new TextEncoder().encode("*-1\r\n"));

function raw(parts: Uint8Array[]): RawReply {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return new RawReply(out);
}

/** A reply made RESP3: nulls become `_` (nested too); other replies stay as they are. */
export function toResp3(reply: Reply): Reply {
  if (reply === null) return RESP3_NULL;
  if (!Array.isArray(reply)) return reply;
  if (!reply.some((r) => r === null || Array.isArray(r))) return reply;
  return reply.map(toResp3);
}

/** A map reply: `%n` in RESP3, a flat array of keys and values in RESP2. */
export function mapReply(client: Client, pairs: [string, Reply][]): Reply {
  if (client.resp === 2) return pairs.flat();
  const parts: Uint8Array[] = [new TextEncoder().encode(`%${pairs.length}\r\n`)];
  for (const [k, v] of pairs) parts.push(encodeReply(k), encodeReply(toResp3(v)));
  return raw(parts);
}

/** A set reply: `~n` in RESP3, an array in RESP2 (COMMAND INFO's flags, for one). */
export function setReply(client: Client, items: Reply[]): Reply {
  if (client.resp === 2) return items;
  const parts: Uint8Array[] = [new TextEncoder().encode(`~${items.length}\r\n`)];
  for (const item of items) parts.push(encodeReply(toResp3(item)));
  return raw(parts);
}

/** A null array: `*-1` in RESP2, `_` in RESP3. */
export function nullArray(client: Client): Reply {
  return client.resp === 2 ? NULL_ARRAY : RESP3_NULL;
}

/** A verbatim text reply (`=` in RESP3; a bulk string in RESP2), as INFO and CLIENT INFO send. */
export function verbatim(client: Client, text: string): Reply {
  if (client.resp === 2) return text;
  const body = new TextEncoder().encode(`txt:${text}`);
  return raw([
    new TextEncoder().encode(`=${body.length}\r\n`),
    body,
    new TextEncoder().encode("\r\n"),
  ]);
}
