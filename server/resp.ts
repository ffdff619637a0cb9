/**
 * The Redis serialization protocol (RESP2), runtime-agnostic: an incremental request parser
 * over byte chunks (multibulk and inline requests) and a reply encoder.
 *
 * @module
 */
import { MAX_VALUE_BYTES } from "../mod.ts";

/** A malformed request; the server replies `-ERR Protocol error: ...` and disconnects. */
export class RespProtocolError extends Error {
  /** Always `"RespProtocolError"`. */
  override readonly name = "RespProtocolError";
}

/** A status reply (`+OK`). */
export class SimpleReply {
  /** Creates a status reply; `text` must not contain CR or LF. */
  constructor(text: string) {
    this.text = text;
  }
  /** The status text. */
  readonly text: string;
}

/** An error reply (`-ERR ...`); `message` starts with the error code. */
export class ErrorReply {
  /** Creates an error reply; CR and LF in `message` become spaces. */
  constructor(message: string) {
    this.message = message;
  }
  /** The error code and message. */
  readonly message: string;
}

/**
 * A reply: status, error, integer (`number`), bulk string (`Uint8Array`, or a `string` sent as
 * UTF-8), null bulk string (`null`), or an array of replies.
 */
export type Reply = SimpleReply | ErrorReply | number | Uint8Array | string | null | Reply[];

/** `+OK`. */
export const OK: SimpleReply = new SimpleReply("OK");

const CR = 13;
const LF = 10;
/** Requests larger than this in one inline line are refused, as Redis does. */
const MAX_INLINE = 64 * 1024;
/** At most this many arguments in one multibulk request (Redis's limit). */
const MAX_ARGS = 1024 * 1024;
/** Room for the command name and options around the largest value shardkv stores. */
const MAX_BULK = MAX_VALUE_BYTES + 1024;

const encoder = new TextEncoder();
const latin1 = new TextDecoder("latin1");

/**
 * Accumulates request bytes and yields complete commands (arrays of argument bytes). A request
 * split across chunks waits for its remaining bytes; several requests in one chunk (pipelining)
 * come out one by one.
 *
 * @example
 * ```ts
 * import { RespParser } from "@shardkv/shardkv/server";
 * const parser = new RespParser();
 * parser.push(new TextEncoder().encode("*1\r\n$4\r\nPI"));
 * parser.next(); // undefined: incomplete
 * parser.push(new TextEncoder().encode("NG\r\n"));
 * parser.next(); // [Uint8Array "PING"]
 * ```
 */
export class RespParser {
  #buf = new Uint8Array(16 * 1024);
  #start = 0;
  #end = 0;

  /** Appends a chunk (copied, so the caller may reuse it). */
  push(chunk: Uint8Array): void {
    if (this.#end + chunk.byteLength > this.#buf.byteLength) {
      // Move the unread bytes to the front, growing the buffer when they fill over half of it.
      const used = this.#end - this.#start;
      const need = used + chunk.byteLength;
      if (need > this.#buf.byteLength / 2) {
        const grown = new Uint8Array(Math.max(need, this.#buf.byteLength * 2));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = used;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.byteLength;
  }

  /** Bytes received but not yet returned as a command. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /**
   * The next complete command, or `undefined` when more bytes are needed. An empty inline
   * line is skipped. Throws `RespProtocolError` for malformed input.
   */
  next(): Uint8Array[] | undefined {
    while (this.#start < this.#end) {
      const parsed = this.#buf[this.#start] === 0x2a /* '*' */ ? this.#multibulk() : this.#inline();
      if (parsed === undefined) return undefined;
      this.#start = parsed.end;
      if (this.#start === this.#end) this.#start = this.#end = 0;
      if (parsed.args.length > 0) return parsed.args;
    }
    return undefined;
  }

  /** Index of the LF ending the line at `from` (which must end in CRLF), or -1. */
  #lineEnd(from: number): number {
    return this.#buf.subarray(0, this.#end).indexOf(LF, from);
  }

  /** The integer in the CRLF-terminated line `[from, lf)` after its type byte, or NaN. */
  #int(from: number, lf: number): number {
    if (lf - from < 3 || this.#buf[lf - 1] !== CR) return NaN;
    const text = latin1.decode(this.#buf.subarray(from + 1, lf - 1));
    return /^-?\d{1,10}$/.test(text) ? Number(text) : NaN;
  }

  #multibulk(): { args: Uint8Array[]; end: number } | undefined {
    const buf = this.#buf;
    let lf = this.#lineEnd(this.#start);
    if (lf === -1) return this.#limitLine(this.#start);
    const count = this.#int(this.#start, lf);
    if (!(count <= MAX_ARGS)) throw new RespProtocolError("invalid multibulk length");
    const args: Uint8Array[] = [];
    let pos = lf + 1;
    for (let i = 0; i < count; i++) {
      if (pos >= this.#end) return undefined;
      if (buf[pos] !== 0x24 /* '$' */) {
        throw new RespProtocolError(`expected '$', got '${String.fromCharCode(buf[pos])}'`);
      }
      lf = this.#lineEnd(pos);
      if (lf === -1) return this.#limitLine(pos);
      const len = this.#int(pos, lf);
      if (!(len >= 0 && len <= MAX_BULK)) throw new RespProtocolError("invalid bulk length");
      const dataEnd = lf + 1 + len;
      if (dataEnd + 2 > this.#end) return undefined;
      if (buf[dataEnd] !== CR || buf[dataEnd + 1] !== LF) {
        throw new RespProtocolError("bulk string is not terminated by CRLF");
      }
      args.push(buf.slice(lf + 1, dataEnd));
      pos = dataEnd + 2;
    }
    return { args, end: pos };
  }

  /** `undefined` (wait for more) unless the unterminated line at `from` is already too long. */
  #limitLine(from: number): undefined {
    if (this.#end - from > MAX_INLINE) throw new RespProtocolError("too big request line");
    return undefined;
  }

  #inline(): { args: Uint8Array[]; end: number } | undefined {
    const lf = this.#lineEnd(this.#start);
    if (lf === -1) return this.#limitLine(this.#start);
    const lineEnd = lf > this.#start && this.#buf[lf - 1] === CR ? lf - 1 : lf;
    return { args: splitInline(this.#buf.subarray(this.#start, lineEnd)), end: lf + 1 };
  }
}

/** Splits an inline request on spaces and tabs; `"..."` and `'...'` quote an argument. */
function splitInline(line: Uint8Array): Uint8Array[] {
  const args: Uint8Array[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i];
    if (c === 0x20 || c === 0x09) {
      i++;
      continue;
    }
    if (c === 0x22 || c === 0x27) {
      const close = line.indexOf(c, i + 1);
      const after = line[close + 1];
      if (close === -1 || (after !== undefined && after !== 0x20 && after !== 0x09)) {
        throw new RespProtocolError("unbalanced quotes in request");
      }
      args.push(line.slice(i + 1, close));
      i = close + 1;
      continue;
    }
    let j = i;
    while (j < line.length && line[j] !== 0x20 && line[j] !== 0x09) j++;
    args.push(line.slice(i, j));
    i = j;
  }
  return args;
}

/**
 * Collects encoded replies in one growing buffer, so a pipeline's replies go out in one write.
 *
 * @example
 * ```ts
 * import { OK, ReplyWriter } from "@shardkv/shardkv/server";
 * const out = new ReplyWriter();
 * out.write(OK);
 * out.write([1, "two", null]);
 * new TextDecoder().decode(out.take()); // "+OK\r\n*3\r\n:1\r\n$3\r\ntwo\r\n$-1\r\n"
 * ```
 */
export class ReplyWriter {
  #buf = new Uint8Array(4096);
  #len = 0;

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.#len;
  }

  /** Encodes `reply` after the replies written so far. */
  write(reply: Reply): void {
    if (reply === null) this.#ascii("$-1\r\n");
    else if (typeof reply === "number") this.#ascii(`:${reply}\r\n`);
    else if (typeof reply === "string") this.#bulk(encoder.encode(reply));
    else if (reply instanceof Uint8Array) this.#bulk(reply);
    else if (reply instanceof SimpleReply) this.#ascii(`+${reply.text}\r\n`);
    else if (reply instanceof ErrorReply) {
      this.#bytes(encoder.encode(`-${reply.message.replace(/[\r\n]+/g, " ")}\r\n`));
    } else {
      this.#ascii(`*${reply.length}\r\n`);
      for (const item of reply) this.write(item);
    }
  }

  /** Returns the bytes written so far and starts over. */
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#len);
    this.#len = 0;
    return out;
  }

  #bulk(bytes: Uint8Array): void {
    this.#ascii(`$${bytes.byteLength}\r\n`);
    this.#bytes(bytes);
    this.#ascii("\r\n");
  }

  #ascii(text: string): void {
    this.#reserve(text.length);
    for (let i = 0; i < text.length; i++) this.#buf[this.#len++] = text.charCodeAt(i);
  }

  #bytes(bytes: Uint8Array): void {
    this.#reserve(bytes.byteLength);
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.byteLength;
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.byteLength) return;
    const next = new Uint8Array(Math.max(this.#len + n, this.#buf.byteLength * 2));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
}

/**
 * Encodes one reply.
 *
 * @example
 * ```ts
 * import { encodeReply } from "@shardkv/shardkv/server";
 * new TextDecoder().decode(encodeReply(42)); // ":42\r\n"
 * ```
 */
export function encodeReply(reply: Reply): Uint8Array {
  const out = new ReplyWriter();
  out.write(reply);
  return out.take();
}
