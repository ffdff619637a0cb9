/**
 * One client connection's protocol state, runtime-agnostic: request bytes in, reply bytes out.
 *
 * @module
 */
import {
  type Client,
  dropClient,
  executeAll,
  executePacked,
  newClient,
  type ServerContext,
} from "./commands.ts";
import {
  ErrorReply,
  type PackedArgs,
  type Reply,
  ReplyWriter,
  RespParser,
  RespProtocolError,
  unpack,
} from "./resp.ts";

/** The outcome of {@linkcode RespSession.feed}. */
export interface FeedResult {
  /** Replies to send (possibly empty), in request order. */
  reply: Uint8Array;
  /** Close the connection after sending `reply` (QUIT or a protocol error). */
  close: boolean;
}

/**
 * Parses a connection's requests and runs them one after another, so replies keep request order
 * however the bytes were split or pipelined.
 *
 * @example
 * ```ts
 * import { openStore } from "@shardkv/shardkv";
 * import { RespSession, ScanCursors } from "@shardkv/shardkv/server";
 * const store = await openStore("", { backend: "memory" });
 * const ctx = { store, startedAt: Date.now(), port: 0, clients: 0, commands: 0, cursors: new ScanCursors() };
 * const session = new RespSession(ctx);
 * const { reply } = await session.feed(new TextEncoder().encode("PING\r\n"));
 * new TextDecoder().decode(reply); // "+PONG\r\n"
 * ```
 */
export class RespSession {
  #ctx: ServerContext;
  #parser: RespParser;
  #out = new ReplyWriter();
  #closing = false;
  #ended = false;
  #tail: Promise<unknown> = Promise.resolve();
  #client: Client;

  /** Opens a session and counts it in `ctx.clients` until {@linkcode end}; `options.parser`
   * (default: one with default limits) reads its requests. */
  constructor(ctx: ServerContext, options: { parser?: RespParser } = {}) {
    this.#ctx = ctx;
    this.#parser = options.parser ?? new RespParser();
    this.#client = newClient(ctx);
    ctx.clients++;
  }

  /**
   * Takes a chunk (copied at once, so the caller may reuse it) and resolves with the replies of
   * every request it completes. Calls resolve in the order they were made.
   */
  feed(chunk: Uint8Array): Promise<FeedResult> {
    if (!this.#closing) this.#parser.push(chunk);
    // An idle session drains at once; a busy one queues behind the drains before it, so replies
    // keep request order (the usual case, one request per read, skips a promise hop).
    const run = this.#pending++ === 0
      ? this.#drainCounted()
      : this.#tail.then(() => this.#drainCounted());
    // A failed feed must not block the ones after it.
    this.#tail = run.catch(() => {});
    return run;
  }

  /** Marks the connection gone (idempotent). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#ctx.clients--;
    dropClient(this.#ctx, this.#client);
  }

  /** Feeds accepted and not yet drained. */
  #pending = 0;

  async #drainCounted(): Promise<FeedResult> {
    try {
      return await this.#drain();
    } finally {
      this.#pending--;
    }
  }

  /** Runs `commands` in order (a packed, huge request on its own); true after a QUIT. */
  async #run(commands: (Uint8Array[] | PackedArgs)[]): Promise<boolean> {
    const write = (reply: Reply): void => this.#out.write(reply);
    let from = 0;
    for (let i = 0; i <= commands.length; i++) {
      const packed = i < commands.length && !Array.isArray(commands[i]);
      if (i < commands.length && !packed) continue;
      const plain = commands.slice(from, i) as Uint8Array[][];
      if (await executeAll(this.#ctx, plain, write, this.#client)) return true;
      if (packed) {
        const result = await executePacked(this.#ctx, commands[i] as PackedArgs, this.#client);
        write(result.reply);
        if (result.quit) return true;
      }
      from = i + 1;
    }
    return false;
  }

  async #drain(): Promise<FeedResult> {
    if (this.#closing) return { reply: new Uint8Array(0), close: true };
    // Everything complete so far runs as one pipeline; a protocol error answers after it.
    const commands: (Uint8Array[] | PackedArgs)[] = [];
    let broken: RespProtocolError | undefined;
    try {
      for (let args = this.#parser.next(); args !== undefined; args = this.#parser.next()) {
        commands.push(unpack(args) ?? args);
      }
    } catch (e) {
      if (!(e instanceof RespProtocolError)) throw e;
      broken = e;
    }
    const quit = await this.#run(commands);
    if (broken !== undefined && !quit) {
      this.#out.write(new ErrorReply(`ERR Protocol error: ${broken.message}`));
    }
    this.#closing = quit || broken !== undefined;
    return { reply: this.#out.take(), close: this.#closing };
  }
}
