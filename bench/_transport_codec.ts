// A compact binary form of W1's calls for bench/transport.ts: per call its id (u32), key
// (u16 length, Latin-1 bytes) and value (u32 length, bytes); a reply is the id and a number.
export type Call = [number, string, string, Uint8Array];

/** Encodes `calls` into one frame. */
export function encodeCalls(calls: readonly Call[]): Uint8Array {
  let size = 4;
  for (const c of calls) size += 10 + c[2].length + c[3].length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, calls.length, true);
  let at = 4;
  for (const [id, , key, value] of calls) {
    dv.setUint32(at, id, true);
    dv.setUint16(at + 4, key.length, true);
    at += 6;
    for (let i = 0; i < key.length; i++) out[at++] = key.charCodeAt(i);
    dv.setUint32(at, value.length, true);
    out.set(value, at + 4);
    at += 4 + value.length;
  }
  return out;
}

/** Decodes a frame of `encodeCalls`; the values are copies. */
export function decodeCalls(frame: Uint8Array): Call[] {
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const n = dv.getUint32(0, true);
  const calls = new Array<Call>(n);
  let at = 4;
  for (let i = 0; i < n; i++) {
    const id = dv.getUint32(at, true);
    const keyLength = dv.getUint16(at + 4, true);
    at += 6;
    const key = String.fromCharCode(...frame.subarray(at, at + keyLength));
    at += keyLength;
    const valueLength = dv.getUint32(at, true);
    calls[i] = [id, "set", key, frame.slice(at + 4, at + 4 + valueLength)];
    at += 4 + valueLength;
  }
  return calls;
}

/** Replies: per call its id and the value's length, as u32 pairs. */
export function encodeReplies(calls: readonly Call[]): Uint8Array {
  const out = new Uint32Array(1 + 2 * calls.length);
  out[0] = calls.length;
  calls.forEach((c, i) => {
    out[1 + 2 * i] = c[0];
    out[2 + 2 * i] = c[3].length;
  });
  return new Uint8Array(out.buffer);
}

export function decodeReplies(frame: Uint8Array): [number, boolean, number][] {
  const words = new Uint32Array(frame.slice().buffer);
  return Array.from({ length: words[0] }, (_, i) => [words[1 + 2 * i], true, words[2 + 2 * i]]);
}
