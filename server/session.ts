/**
 * One client connection's protocol state, runtime-agnostic: request bytes in, reply bytes out.
 *
 * @module
 */
import {
  type Client,
  dropClient,
  executePacked,
  newClient,
  runCommands,
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
 * Where a session delivers the outcome of each chunk, in the order the chunks came (internal:
 * the server's connection). `reply` is a view of the session's reply buffer, valid only until
 * `fed` returns: send it or copy it at once.
 */
export interface FeedSink {
  fed(result: FeedResult): void;
  /**
   * The chunk's commands failed (a bug, not a client's error); `before` holds the replies of
   * its commands that ran before the failure (a view, like `fed`'s).
   */
  failed(error: unknown, before: Uint8Array): void;
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
  #client: Client;
  #write = (reply: Reply): void => this.#out.write(reply);
  /** Where outcomes go: set by {@linkcode pipe}, else the promises of {@linkcode feed}. */
  #sink: FeedSink | undefined;
  #promised: [(r: FeedResult) => void, (e: unknown) => void][] = [];
  /** Chunks pushed and not yet drained (each one's outcome is due to the sink). */
  #waiting = 0;
  /** A drain is waiting for the store. */
  #busy = false;

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
    if (this.#sink !== undefined) {
      return Promise.reject(new TypeError("feed() is not available on a piped session"));
    }
    return new Promise((resolve, reject) => {
      this.#promised.push([resolve, reject]);
      this.push(chunk);
    });
  }

  /**
   * Delivers the outcome of every later {@linkcode push} to `sink` instead of promises, without
   * copying the replies (internal: the server's connections use it).
   */
  pipe(sink: FeedSink): void {
    this.#sink = sink;
  }

  /**
   * Takes a chunk (copied at once) and delivers its outcome to the sink: at once when its
   * commands finish without waiting for the store, else once they do (internal).
   */
  push(chunk: Uint8Array): void {
    if (!this.#closing) this.#parser.push(chunk);
    this.#waiting++;
    if (!this.#busy) this.#pump();
  }

  /** Marks the connection gone (idempotent). */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#ctx.clients--;
    dropClient(this.#ctx, this.#client);
  }

  /** Drains once per chunk pushed, in order, until one has to wait for the store. */
  #pump(): void {
    while (this.#waiting > 0 && !this.#busy) {
      this.#waiting--;
      let result: FeedResult | Promise<FeedResult>;
      try {
        result = this.#drain();
      } catch (e) {
        this.#failed(e);
        continue;
      }
      if (!(result instanceof Promise)) {
        this.#fed(result);
        continue;
      }
      this.#busy = true;
      result.then(
        (r) => {
          this.#busy = false;
          this.#fed(r);
          this.#pump();
        },
        (e) => {
          this.#busy = false;
          this.#failed(e);
          this.#pump();
        },
      );
    }
  }

  #fed(result: FeedResult): void {
    if (this.#sink !== undefined) return this.#sink.fed(result);
    const [resolve] = this.#promised.shift()!;
    resolve({ reply: result.reply.slice(), close: result.close });
  }

  #failed(error: unknown): void {
    const before = this.#out.view();
    if (this.#sink !== undefined) return this.#sink.failed(error, before);
    const [, reject] = this.#promised.shift()!;
    reject(error);
  }

  /** Runs `commands` in order (a packed, huge request on its own); true after a QUIT. */
  #run(commands: (Uint8Array[] | PackedArgs)[], packed: boolean): boolean | Promise<boolean> {
    if (!packed) {
      return runCommands(this.#ctx, commands as Uint8Array[][], this.#write, this.#client);
    }
    return this.#runPacked(commands);
  }

  async #runPacked(commands: (Uint8Array[] | PackedArgs)[]): Promise<boolean> {
    const write = this.#write;
    let from = 0;
    for (let i = 0; i <= commands.length; i++) {
      const packed = i < commands.length && !Array.isArray(commands[i]);
      if (i < commands.length && !packed) continue;
      const plain = commands.slice(from, i) as Uint8Array[][];
      if (await runCommands(this.#ctx, plain, write, this.#client)) return true;
      if (packed) {
        const result = await executePacked(this.#ctx, commands[i] as PackedArgs, this.#client);
        write(result.reply);
        if (result.quit) return true;
      }
      from = i + 1;
    }
    return false;
  }

  #drain(): FeedResult | Promise<FeedResult> {
    if (this.#closing) return { reply: new Uint8Array(0), close: true };
    // Everything complete so far runs as one pipeline; a protocol error answers after it.
    const commands: (Uint8Array[] | PackedArgs)[] = [];
    let packed = false;
    let broken: RespProtocolError | undefined;
    try {
      for (let args = this.#parser.next(); args !== undefined; args = this.#parser.next()) {
        const p = args.length === 0 ? unpack(args) : undefined;
        if (p !== undefined) packed = true;
        commands.push(p ?? args);
      }
    } catch (e) {
      if (!(e instanceof RespProtocolError)) throw e;
      broken = e;
    }
    const quit = commands.length === 0 ? false : this.#run(commands, packed);
    if (quit instanceof Promise) return quit.then((q) => this.#result(q, broken));
    return this.#result(quit, broken);
  }

  #result(quit: boolean, broken: RespProtocolError | undefined): FeedResult {
    if (broken !== undefined && !quit) {
      this.#out.write(new ErrorReply(`ERR Protocol error: ${broken.message}`));
    }
    this.#closing = quit || broken !== undefined;
    return { reply: this.#out.view(), close: this.#closing };
  }
}
