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
  /** The status text. */
  readonly text: string;
  /** Its encoding, made on first use (most status replies are shared constants). */
  #encoded: Uint8Array | undefined;
  /** Creates a status reply; `text` must not contain CR or LF. */
  constructor(text: string) {
    this.text = text;
  }

  /** `+text` CRLF (internal: the reply writer copies it). */
  encoded(): Uint8Array {
    return this.#encoded ??= new TextEncoder().encode(`+${this.text}\r\n`);
  }
}

/** An error reply (`-ERR ...`); `message` starts with the error code. */
export class ErrorReply {
  /** The error text, starting with its code (`ERR`, `WRONGTYPE`...). */
  readonly message: string;
  /** Creates an error reply; CR and LF in `message` become spaces. */
  constructor(message: string) {
    this.message = message;
  }
}

/**
 * A reply: status, error, integer (`number`), bulk string (`Uint8Array`, or a `string` sent as
 * UTF-8), null bulk string (`null`), or an array of replies.
 */
export type Reply =
  | SimpleReply
  | ErrorReply
  | RawReply
  | number
  | bigint
  | Uint8Array
  | string
  | null
  | Reply[];

/** Bytes sent as they are: a reply encoded elsewhere (RESP3 types, `*-1`). */
export class RawReply {
  /** The encoded reply. */
  readonly bytes: Uint8Array;
  /** Wraps already encoded reply bytes. */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }
}

/** `+OK`. */
export const OK: SimpleReply = new SimpleReply("OK");

const CR = 13;
const LF = 10;
/** Longest inline request and longest `*`/`$` header line (Redis's PROTO_INLINE_MAX_SIZE). */
const MAX_INLINE = 64 * 1024;
/** At most this many arguments in one multibulk request (Redis's limit). */
const MAX_ARGS = 1024 * 1024;
/** The parser's read buffer starts at this size and shrinks back to it once empty. */
const INITIAL_BUFFER = 16 * 1024;

/** A reply writer's buffer starts at this size and starts over at it after a large reply. */
const WRITER_BUFFER = 16 * 1024;

const encoder = new TextEncoder();
const NULL_BULK = encoder.encode("$-1\r\n");

/**
 * A request's arguments kept compact: their bytes back to back in one buffer and where each one
 * starts, so a million-argument request costs its argument bytes plus 4 bytes per argument
 * instead of an object per argument. Views are made on demand, a slice at a time (internal: the
 * server packs huge requests, see {@linkcode packAbove}).
 */
export class PackedArgs {
  /** How many arguments (the command name included). */
  readonly length: number;
  #data: Uint8Array;
  #starts: Uint32Array;

  /** `starts[i]` is where argument `i` begins in `data`; `starts[length]` is where it ends. */
  constructor(data: Uint8Array, starts: Uint32Array) {
    this.#data = data;
    this.#starts = starts;
    this.length = starts.length - 1;
  }

  /** Argument `i` (a view of the shared buffer). */
  at(i: number): Uint8Array {
    return this.#data.subarray(this.#starts[i], this.#starts[i + 1]);
  }

  /** Arguments `from` to `to` (excluded), as views. */
  slice(from: number, to: number = this.length): Uint8Array[] {
    const out: Uint8Array[] = [];
    for (let i = from; i < Math.min(to, this.length); i++) out.push(this.at(i));
    return out;
  }
}

/** Parser -> argument count above which its requests come out packed. */
const packLimits = new WeakMap<RespParser, number>();
/** The marker array `next()` returned for a packed request -> the request. */
const packedRequests = new WeakMap<Uint8Array[], PackedArgs>();

/**
 * Makes `parser` keep requests with more than `count` arguments compact: for such a request
 * `next()` returns an empty marker array, which {@linkcode unpack} turns into its
 * {@linkcode PackedArgs}. Internal to the server (not part of the public API).
 */
export function packAbove(parser: RespParser, count: number): void {
  packLimits.set(parser, count);
}

/** The packed request behind a marker array from `next()`, or `undefined` for a plain one. */
export function unpack(args: Uint8Array[]): PackedArgs | undefined {
  return packedRequests.get(args);
}

/** Limits of a {@linkcode RespParser}, like Redis's settings of the same purpose. */
export interface RespParserOptions {
  /**
   * Longest bulk string (argument) in bytes, like Redis's `proto-max-bulk-len`. Default: the
   * largest value shardkv stores plus 1 KiB (a longer argument could only be refused after
   * being read, so reading it would just let one client cost that much memory).
   */
  maxBulkLength?: number;
  /**
   * Most bytes one client may have buffered: unparsed input plus the arguments read so far of
   * the request in progress, like Redis's `client-query-buffer-limit` (default 1 GiB). Past it,
   * {@linkcode RespParser.next} throws once the commands before it are returned.
   */
  maxQueryBuffer?: number;
}

function limit(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, received ${String(value)}`);
  }
  return value;
}

/**
 * Accumulates request bytes and yields complete commands (arrays of argument bytes). A request
 * split across chunks waits for its remaining bytes; several requests in one chunk (pipelining)
 * come out one by one. Parsing is linear in the input: a request in progress keeps its state
 * across chunks (arguments already read are not parsed again).
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
  /**
   * At most this many commands come out of {@linkcode next} before it returns `undefined` with
   * {@linkcode hasMore} set (default: no limit), so a server can run a long pipeline in slices
   * and stop between them while the client is not reading its replies.
   */
  batch: number = Infinity;
  #maxBulk: number;
  #maxQuery: number;
  #buf = new Uint8Array(INITIAL_BUFFER);
  /** First byte not yet returned as a command (a multibulk request in progress starts here). */
  #start = 0;
  /** Where parsing resumes: after the last line or argument read, at or after `#start`. */
  #pos = 0;
  #end = 0;
  /** Where the search for the current line's LF resumes (no byte is scanned twice). */
  #scan = 0;
  /** Arguments still due of the multibulk request in progress (0: none in progress). */
  #due = 0;
  /** Its declared argument count. */
  #count = 0;
  /** Its arguments read so far and still in the buffer, as (offset from `#start`, length)
   * pairs; reused. */
  #spans: number[] = [];
  /** Its arguments already moved out of the buffer (see `#seal`), and their bytes. */
  #sealed: Uint8Array[] = [];
  #sealedBytes = 0;
  /** Whether the request in progress is packed; then its sealed bytes and spans go here. */
  #packing = false;
  #packData = new Uint8Array(0);
  #packStarts = new Uint32Array(1);
  #packArgs = 0;
  /** Length of the bulk string being read, or -1 while its `$` line is due. */
  #bulk = -1;
  /** An inline line holds a NUL before its LF: Redis never sees its end (see `#inline`). */
  #nulLine = false;
  #returned = 0;
  #more = false;
  #overflow = false;
  #error: RespProtocolError | undefined;

  /** Creates a parser with Redis-like limits (see {@linkcode RespParserOptions}). */
  constructor(options: RespParserOptions = {}) {
    this.#maxBulk = limit("maxBulkLength", options.maxBulkLength, MAX_VALUE_BYTES + 1024);
    this.#maxQuery = limit("maxQueryBuffer", options.maxQueryBuffer, 1024 * 1024 * 1024);
  }

  /** Appends a chunk (copied, so the caller may reuse it); past the query-buffer limit, drops it. */
  push(chunk: Uint8Array): void {
    if (this.#overflow || this.#error !== undefined) return;
    if (this.#end + chunk.byteLength > this.#buf.byteLength) this.#seal();
    const used = this.#end - this.#start;
    if (used + this.#sealedBytes + chunk.byteLength > this.#maxQuery) {
      this.#overflow = true;
      return;
    }
    if (this.#end + chunk.byteLength > this.#buf.byteLength) {
      // Move the unread bytes to the front, growing the buffer when they fill over half of it.
      const need = used + chunk.byteLength;
      if (need > this.#buf.byteLength / 2) {
        const grown = new Uint8Array(Math.max(need, this.#buf.byteLength * 2));
        grown.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = grown;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#pos -= this.#start;
      this.#scan = Math.max(0, this.#scan - this.#start);
      this.#start = 0;
      this.#end = used;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += chunk.byteLength;
  }

  /**
   * The declared argument count of the multibulk request being received (its `*N` header has
   * arrived, not all of its arguments); 0 when none is in progress.
   */
  get receiving(): number {
    return this.#due === 0 ? 0 : this.#count;
  }

  /** Bytes received but not yet returned as a command. */
  get buffered(): number {
    return this.#end - this.#start + this.#sealedBytes;
  }

  /**
   * Whether the last {@linkcode next} stopped at the {@linkcode batch} limit with input left:
   * calling `next()` again starts a new batch.
   */
  get hasMore(): boolean {
    return this.#more;
  }

  /**
   * The next complete command, or `undefined` when more bytes are needed (or the batch limit
   * was reached). An empty inline line or `*0` is skipped. Throws `RespProtocolError` for
   * malformed input and for input past the query-buffer limit; after that, every call throws.
   */
  next(): Uint8Array[] | undefined {
    if (this.#error !== undefined) throw this.#error;
    if (this.#more) {
      this.#more = false;
      this.#returned = 0;
    }
    try {
      for (;;) {
        const idle = this.#due === 0;
        if (idle && this.#start >= this.#end) return this.#wait();
        if (idle && this.#returned >= this.batch) {
          this.#more = true;
          return undefined;
        }
        const args = !idle || this.#buf[this.#start] === 0x2a /* '*' */
          ? this.#multibulk()
          : this.#inline();
        if (args === undefined) return this.#wait();
        if (args.length > 0 || unpack(args) !== undefined) {
          this.#returned++;
          return args;
        }
      }
    } catch (e) {
      if (e instanceof RespProtocolError) this.#error = e;
      throw e;
    }
  }

  /** `undefined` for "more bytes needed", after resetting the buffer when it is empty. */
  #wait(): undefined {
    this.#returned = 0;
    if (this.#overflow) throw new RespProtocolError("too big query buffer");
    if (this.#start === this.#end) {
      // Shrink a buffer that one large request grew, so an idle client holds little memory.
      if (this.#buf.byteLength > 4 * INITIAL_BUFFER) this.#buf = new Uint8Array(INITIAL_BUFFER);
      this.#start =
        this.#pos =
        this.#end =
        this.#scan =
          0;
    }
    return undefined;
  }

  /** Index of the next LF at or after `#pos`, or -1 (then the next search resumes at `#end`). */
  #lineEnd(): number {
    const buf = this.#buf;
    const end = this.#end;
    for (let i = this.#scan > this.#pos ? this.#scan : this.#pos; i < end; i++) {
      if (buf[i] === LF) return i;
    }
    this.#scan = end;
    return -1;
  }

  /** The decimal integer in `[from, lf - 1)` followed by CRLF, or NaN. */
  #int(from: number, lf: number): number {
    const buf = this.#buf;
    if (buf[lf - 1] !== CR) return NaN;
    const stop = lf - 1;
    let i = from;
    const negative = buf[i] === 0x2d; /* '-' */
    if (negative) i++;
    if (i === stop || stop - i > 15) return NaN;
    let n = 0;
    for (; i < stop; i++) {
      const d = buf[i] - 0x30;
      if (d < 0 || d > 9) return NaN;
      n = n * 10 + d;
    }
    return negative ? -n : n;
  }

  /**
   * Continues the multibulk request at `#start`: its arguments, or `undefined` for "wait". The
   * request's bytes stay in the buffer until it is complete; then they are copied once, and
   * each argument is a view of that copy (one allocation per request, not per argument).
   */
  #multibulk(): Uint8Array[] | undefined {
    const buf = this.#buf;
    const spans = this.#spans;
    if (this.#due === 0) {
      this.#pos = this.#start;
      const lf = this.#lineEnd();
      if (lf === -1) return this.#partialLine("too big mbulk count string");
      const count = this.#int(this.#start + 1, lf);
      if (!(count <= MAX_ARGS)) throw new RespProtocolError("invalid multibulk length");
      this.#start = this.#pos = lf + 1;
      if (count <= 0) return [];
      this.#due = this.#count = count;
      this.#bulk = -1;
      spans.length = 0;
      this.#packing = count > (packLimits.get(this) ?? Infinity);
      if (this.#packing) this.#packStarts = new Uint32Array(count + 1);
    }
    while (this.#due > 0) {
      if (this.#bulk === -1) {
        if (this.#pos >= this.#end) return undefined;
        if (buf[this.#pos] !== 0x24 /* '$' */) {
          const got = String.fromCharCode(buf[this.#pos]);
          throw new RespProtocolError(`expected '$', got '${got}'`);
        }
        const lf = this.#lineEnd();
        if (lf === -1) return this.#partialLine("too big bulk count string");
        const len = this.#int(this.#pos + 1, lf);
        if (!(len >= 0 && len <= this.#maxBulk)) throw new RespProtocolError("invalid bulk length");
        this.#bulk = len;
        this.#pos = lf + 1;
      }
      const dataEnd = this.#pos + this.#bulk;
      if (dataEnd + 2 > this.#end) return undefined;
      // Redis skips the two bytes after the data unchecked (they should be CRLF): so does this.
      spans.push(this.#pos - this.#start, this.#bulk);
      this.#pos = dataEnd + 2;
      this.#bulk = -1;
      this.#due--;
    }
    this.#seal();
    if (this.#packing) return this.#takePacked();
    const args = this.#sealed;
    this.#sealed = [];
    this.#sealedBytes = 0;
    return args;
  }

  /**
   * Moves the arguments read so far of the request in progress out of the buffer: one copy of
   * their bytes, each argument a view of it. Done when the request completes, and before the
   * buffer would grow or move, so a huge request is converted chunk by chunk (no long pause at
   * its end) and the buffer holds only its unread part.
   */
  #seal(): void {
    const spans = this.#spans;
    if (spans.length === 0) return;
    if (this.#packing) {
      this.#sealPacked();
      return;
    }
    const copy = this.#buf.slice(this.#start, this.#pos);
    const sealed = this.#sealed;
    for (let i = 0; i < spans.length; i += 2) {
      sealed.push(copy.subarray(spans[i], spans[i] + spans[i + 1]));
    }
    this.#sealedBytes += copy.byteLength;
    this.#start = this.#pos;
    spans.length = 0;
  }

  /** {@linkcode #seal} for a packed request: its bytes and spans appended to the packed ones. */
  #sealPacked(): void {
    const spans = this.#spans;
    let bytes = 0;
    for (let i = 1; i < spans.length; i += 2) bytes += spans[i];
    const base = this.#sealedBytes;
    const need = base + bytes;
    if (need > this.#packData.byteLength) {
      // Sized for the whole request at the average argument size so far (usually one
      // allocation), growing by at least half when the estimate was short.
      const estimate = need / (this.#packArgs + spans.length / 2) * this.#count * 1.05;
      const size = Math.max(need, Math.ceil(estimate), Math.ceil(1.5 * this.#packData.byteLength));
      const grown = new Uint8Array(Math.min(size, this.#maxQuery));
      grown.set(this.#packData.subarray(0, base));
      this.#packData = grown;
    }
    // Only the argument bytes are kept (not the `$len` lines): short ones copied byte by byte,
    // which makes no view object per argument.
    const buf = this.#buf;
    const data = this.#packData;
    const starts = this.#packStarts;
    let n = this.#packArgs;
    let at = base;
    for (let i = 0; i < spans.length; i += 2) {
      const from = this.#start + spans[i];
      const len = spans[i + 1];
      if (len > 64) data.set(buf.subarray(from, from + len), at);
      else for (let k = 0; k < len; k++) data[at + k] = buf[from + k];
      at += len;
      starts[++n] = at;
    }
    this.#packArgs = n;
    this.#sealedBytes = at;
    this.#start = this.#pos;
    spans.length = 0;
  }

  /** The completed packed request, as a marker array (see {@linkcode unpack}). */
  #takePacked(): Uint8Array[] {
    // The bytes are copied to their exact size only when over an eighth of the buffer is spare.
    const data = this.#packData;
    const used = this.#sealedBytes;
    const packed = new PackedArgs(
      data.byteLength - used > data.byteLength / 8 ? data.slice(0, used) : data.subarray(0, used),
      this.#packStarts,
    );
    this.#packData = new Uint8Array(0);
    this.#packStarts = new Uint32Array(1);
    this.#packArgs = 0;
    this.#packing = false;
    this.#sealedBytes = 0;
    const marker: Uint8Array[] = [];
    packedRequests.set(marker, packed);
    return marker;
  }

  /** `undefined` (wait for more) unless the unterminated line at `#pos` is already too long. */
  #partialLine(tooLong: string): undefined {
    if (this.#end - this.#pos > MAX_INLINE) throw new RespProtocolError(tooLong);
    return undefined;
  }

  #inline(): Uint8Array[] | undefined {
    this.#pos = this.#start;
    const lf = this.#nulLine ? -1 : this.#lineEnd();
    if (lf === -1) return this.#partialLine("too big inline request");
    // Redis finds the line's end with strchr, which stops at a NUL byte: such a line never ends
    // (the connection waits until the request is too big).
    if (this.#buf.subarray(this.#start, lf).indexOf(0) !== -1) {
      this.#nulLine = true;
      return this.#partialLine("too big inline request");
    }
    const lineEnd = lf > this.#start && this.#buf[lf - 1] === CR ? lf - 1 : lf;
    const args = splitInline(this.#buf.subarray(this.#start, lineEnd));
    this.#start = this.#pos = lf + 1;
    return args;
  }
}

/** C's isspace: space, \t, \n, \v, \f, \r. */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  return lower >= 0x61 && lower <= 0x66 ? lower - 0x61 + 10 : -1;
}

const ESCAPES: Record<number, number> = {
  0x6e: 0x0a,
  0x72: 0x0d,
  0x74: 0x09,
  0x62: 0x08,
  0x61: 0x07,
};

/**
 * Splits an inline request as Redis's sdssplitargs does: arguments end at a space, tab, CR or
 * LF (blanks between them are any C whitespace); a `"` anywhere in an argument opens a quoted
 * part with escapes (`\xHH`, `\n`, `\r`, `\t`, `\b`, `\a`, else the next byte itself), a `'`
 * one where only `\'` is an escape; a closing quote must be followed by whitespace or the end.
 */
function splitInline(line: Uint8Array): Uint8Array[] {
  const n = line.length;
  const args: Uint8Array[] = [];
  const unbalanced = () => new RespProtocolError("unbalanced quotes in request");
  let i = 0;
  for (;;) {
    while (i < n && isSpace(line[i])) i++;
    if (i === n) return args;
    const arg: number[] = [];
    let quote = 0;
    for (let done = false; !done; i = Math.min(i + 1, n)) {
      const c = line[i];
      if (quote === 0x22) {
        if (i === n) throw unbalanced();
        if (
          c === 0x5c && line[i + 1] === 0x78 && hexValue(line[i + 2]) >= 0 &&
          hexValue(line[i + 3]) >= 0
        ) {
          arg.push(hexValue(line[i + 2]) * 16 + hexValue(line[i + 3]));
          i += 3;
        } else if (c === 0x5c && i + 1 < n) {
          i++;
          arg.push(ESCAPES[line[i]] ?? line[i]);
        } else if (c === 0x22) {
          if (i + 1 < n && !isSpace(line[i + 1])) throw unbalanced();
          done = true;
        } else arg.push(c);
      } else if (quote === 0x27) {
        if (i === n) throw unbalanced();
        if (c === 0x5c && line[i + 1] === 0x27) {
          i++;
          arg.push(0x27);
        } else if (c === 0x27) {
          if (i + 1 < n && !isSpace(line[i + 1])) throw unbalanced();
          done = true;
        } else arg.push(c);
      } else if (i === n || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        done = true;
      } else if (c === 0x22 || c === 0x27) quote = c;
      else arg.push(c);
    }
    args.push(Uint8Array.from(arg));
  }
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
  #buf = new Uint8Array(WRITER_BUFFER);
  #len = 0;

  /** Bytes written and not yet taken. */
  get length(): number {
    return this.#len;
  }

  /** Encodes `reply` after the replies written so far. */
  write(reply: Reply): void {
    // The common replies first: bulk strings (GET), statuses (OK) and nulls.
    if (reply instanceof Uint8Array) this.#bulk(reply);
    else if (reply instanceof SimpleReply) this.#bytes(reply.encoded());
    else if (reply === null) this.#bytes(NULL_BULK);
    else if (typeof reply === "number") this.#line(0x3a, /* ':' */ reply);
    else if (typeof reply === "bigint") this.#ascii(`:${reply}\r\n`);
    else if (reply instanceof RawReply) this.#bytes(reply.bytes);
    else if (typeof reply === "string") this.#bulk(encoder.encode(reply));
    else if (reply instanceof ErrorReply) {
      this.#bytes(encoder.encode(`-${reply.message.replace(/[\r\n]+/g, " ")}\r\n`));
    } else if (Array.isArray(reply)) {
      this.#line(0x2a, /* '*' */ reply.length);
      for (const item of reply) this.write(item);
    } else {
      throw new TypeError(`Not a RESP reply: ${typeof reply}`);
    }
  }

  /**
   * The bytes written so far, as a view of the writer's buffer, and starts over: the view is
   * valid only until the next {@linkcode write} (internal: for a caller that sends or copies
   * them at once). A large buffer is handed over, so one big reply is not kept per client.
   */
  view(): Uint8Array {
    const out = this.#buf.subarray(0, this.#len);
    if (this.#buf.byteLength > WRITER_BUFFER) this.#buf = new Uint8Array(WRITER_BUFFER);
    this.#len = 0;
    return out;
  }

  /**
   * Returns the bytes written so far and starts over. A large reply hands over its buffer
   * (no copy) and the writer starts again small, so one big reply is not kept per client.
   */
  take(): Uint8Array {
    if (this.#len * 2 < WRITER_BUFFER || this.#buf.byteLength <= WRITER_BUFFER) {
      const out = this.#buf.slice(0, this.#len);
      this.#len = 0;
      return out;
    }
    const out = this.#buf.subarray(0, this.#len);
    this.#buf = new Uint8Array(WRITER_BUFFER);
    this.#len = 0;
    return out;
  }

  #bulk(bytes: Uint8Array): void {
    const n = bytes.byteLength;
    this.#line(0x24, /* '$' */ n);
    this.#reserve(n + 2);
    const buf = this.#buf;
    // Short values byte by byte: cheaper than the call into a native copy.
    if (n > 32) buf.set(bytes, this.#len);
    else for (let i = 0; i < n; i++) buf[this.#len + i] = bytes[i];
    this.#len += n;
    buf[this.#len++] = CR;
    buf[this.#len++] = LF;
  }

  /** `type`, the integer `n` and CRLF, written without building a string for integers. */
  #line(type: number, n: number): void {
    if (!Number.isSafeInteger(n)) {
      this.#ascii(`${String.fromCharCode(type)}${n}\r\n`);
      return;
    }
    this.#reserve(20);
    const buf = this.#buf;
    buf[this.#len++] = type;
    if (n < 0) {
      buf[this.#len++] = 0x2d; /* '-' */
      n = -n;
    }
    let digits = 1;
    for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
    for (let i = this.#len + digits - 1; i >= this.#len; i--) {
      buf[i] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    }
    this.#len += digits;
    buf[this.#len++] = CR;
    buf[this.#len++] = LF;
  }

  #ascii(text: string): void {
    this.#reserve(text.length);
    for (let i = 0; i < text.length; i++) this.#buf[this.#len++] = text.charCodeAt(i);
  }

  #bytes(bytes: Uint8Array): void {
    const n = bytes.byteLength;
    this.#reserve(n);
    const buf = this.#buf;
    if (n > 32) buf.set(bytes, this.#len);
    else for (let i = 0; i < n; i++) buf[this.#len + i] = bytes[i];
    this.#len += n;
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
