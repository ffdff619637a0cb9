// The connection logic every runtime's listener shares, written once: flow control (stop
// reading from a client whose replies are not consumed), output-buffer limits, the idle timeout,
// and containment of failures (nothing a client sends can become an unhandled rejection). Each
// runtime's adapter (_bun_listener.ts, _deno_listener.ts, _node_listener.ts) only moves bytes.
import { encodeReply, ErrorReply, packAbove, RespParser } from "./resp.ts";
import type { FeedResult, FeedSink } from "./session.ts";
import type { ServerConfig } from "./_cmd_context.ts";

/** What the shared logic needs from one runtime's socket. */
export interface Transport {
  /** Queues `bytes` for sending (the transport owns them from now on). */
  write(bytes: Uint8Array): void;
  /**
   * Sends `bytes`, which the caller reuses once this returns: what cannot be sent at once is
   * copied (optional: without it, the caller copies and calls `write`).
   */
  writeNow?(bytes: Uint8Array): void;
  /** Bytes queued and not yet taken by the kernel. */
  readonly queued: number;
  /** Stops reading (the client then sees TCP backpressure). */
  pause(): void;
  /** Reads again after {@linkcode pause}. */
  resume(): void;
  /** Closes once the queued bytes are sent. */
  end(): void;
  /** Closes now, dropping queued bytes. */
  destroy(): void;
}

/** What an adapter reports about one socket. */
export interface ConnectionEvents {
  /** Bytes arrived (the chunk may be reused by the adapter once this returns). */
  data(chunk: Uint8Array): void;
  /** The send queue emptied. */
  drain(): void;
  /** The socket is closed (idempotent). */
  closed(): void;
}

/** A listening socket. */
export interface ListenerHandle {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** Stops accepting (open connections are closed by the caller). */
  close(): Promise<void>;
}

/** Where the server reports trouble (accept failures, internal errors). */
export type Log = (message: string) => void;

/** Binds `hostname:port` and calls `accept` for each new connection. */
export type Listen = (
  address: { hostname: string; port: number },
  accept: (transport: Transport) => ConnectionEvents,
  log: Log,
) => Promise<ListenerHandle>;

/** A connection's protocol side (a `RespSession`). */
export interface Session {
  /** Where the outcome of each pushed chunk goes, in order. */
  pipe(sink: FeedSink): void;
  /** Takes a chunk (copied); its outcome goes to the sink, at once or later. */
  push(chunk: Uint8Array): void;
  end(): void;
}

/** Stop reading and running a client's commands while this many reply bytes wait for it. */
const OUTPUT_HIGH = 512 * 1024;
/** Stop reading while this many request bytes are handed to the session and not answered. */
const INPUT_HIGH = 256 * 1024;
/** The parser's batch adapts so one batch's replies are about this size. */
const BATCH_REPLY_TARGET = 256 * 1024;
const BATCH_MAX = 1024;
const BATCH_INITIAL = 16;
const EMPTY = new Uint8Array(0);
/**
 * A request with more arguments than this is "huge": it is kept packed (its bytes plus 8 bytes per
 * argument, not an object per argument), and one connection at a time may receive and run one,
 * the others stop being read until it is done.
 */
const HUGE_ARGS = 64 * 1024;

/** One client: the session plus the flow control around it. */
class Connection implements ConnectionEvents, FeedSink {
  lastActive = Date.now();
  #transport: Transport;
  #session: Session;
  #parser: RespParser;
  #owner: ConnectionSet;
  /** Chunks handed to the session and not answered yet. */
  #feeds = 0;
  /** Their sizes, oldest first (`#sizes[#sizesHead]` is the one answered next). */
  #sizes: number[] = [];
  #sizesHead = 0;
  #feeding = 0;
  #paused = false;
  #done = false;
  #gone = false;
  #softSince = 0;
  /** This connection holds the server's one slot for a huge request. */
  #huge = false;

  constructor(owner: ConnectionSet, transport: Transport, parser: RespParser, session: Session) {
    this.#owner = owner;
    this.#transport = transport;
    this.#parser = parser;
    this.#session = session;
    session.pipe(this);
  }

  data(chunk: Uint8Array): void {
    if (this.#done) return;
    this.lastActive = Date.now();
    this.#feed(chunk);
    // Answered at once: its outcome already ran the flow control.
    if (this.#feeds > 0) this.#flow();
  }

  drain(): void {
    if (this.#done) return;
    this.lastActive = Date.now();
    this.#flow();
  }

  closed(): void {
    if (this.#gone) return;
    this.#gone = this.#done = true;
    this.#session.end();
    this.#owner.forget(this);
  }

  /** Called when the huge-request slot frees up while this connection waits for it. */
  wake(): void {
    this.#flow();
  }

  /** Closes now (server shutdown, idle timeout, output limit). */
  destroy(): void {
    this.#done = true;
    try {
      this.#transport.destroy();
    } finally {
      this.closed();
    }
  }

  /** Whether the client sent nothing and took no replies for `ms` and has nothing running. */
  idle(now: number, ms: number): boolean {
    return this.#feeds === 0 && now - this.lastActive > ms;
  }

  #feed(chunk: Uint8Array): void {
    this.#feeds++;
    this.#feeding += chunk.byteLength;
    this.#sizes.push(chunk.byteLength);
    try {
      this.#session.push(chunk);
    } catch (error) {
      this.#owner.log(`shardkv server: closing a client after an internal error: ${error}`);
      this.destroy();
    }
  }

  /** The outcome of the oldest chunk fed: its size is no longer pending. */
  #answered(): void {
    this.#feeds--;
    this.#feeding -= this.#sizes[this.#sizesHead++];
    if (this.#sizesHead === this.#sizes.length) this.#sizes.length = this.#sizesHead = 0;
  }

  fed({ reply, close }: FeedResult): void {
    this.#answered();
    if (this.#done) return;
    try {
      if (reply.byteLength > 0) {
        this.#write(reply);
        this.#adapt(reply.byteLength);
      }
      if (close) {
        this.#done = true;
        this.#transport.end();
        return;
      }
      this.#flow();
    } catch (error) {
      this.#owner.log(`shardkv server: closing a client after an internal error: ${error}`);
      this.destroy();
    }
  }

  /** A session that failed (a bug, not a client's error): answer an error, keep serving. */
  failed(error: unknown, before: Uint8Array): void {
    this.#answered();
    if (this.#done) return;
    const message = error instanceof Error ? error.message : String(error);
    this.#owner.log(`shardkv server: a command failed unexpectedly: ${message}`);
    try {
      if (before.byteLength > 0) this.#write(before);
      this.#transport.write(encodeReply(new ErrorReply(`ERR internal error: ${message}`)));
      this.#flow();
    } catch (e) {
      this.#owner.log(`shardkv server: closing a client after an internal error: ${e}`);
      this.destroy();
    }
  }

  /** Sends `reply`, a view the session reuses: copied unless the transport sends it at once. */
  #write(reply: Uint8Array): void {
    if (this.#transport.writeNow !== undefined) this.#transport.writeNow(reply);
    else this.#transport.write(reply.slice());
  }

  /** Sizes the next batches so each one's replies are about BATCH_REPLY_TARGET bytes. */
  #adapt(replyBytes: number): void {
    const batch = this.#parser.batch;
    const scaled = Math.floor(batch * BATCH_REPLY_TARGET / replyBytes);
    this.#parser.batch = Math.max(1, Math.min(BATCH_MAX, 2 * batch, scaled));
  }

  /** Applies the output limits, continues a sliced pipeline, pauses or resumes reading. */
  #flow(): void {
    if (this.#done) return;
    // Nothing queued and no soft-limit episode running: no limit can be crossed.
    if ((this.#transport.queued > 0 || this.#softSince !== 0) && this.#overLimit(Date.now())) {
      return;
    }
    let queued = this.#transport.queued;
    let more = this.#parser.hasMore;
    if (more && queued <= OUTPUT_HIGH && this.#feeds === 0) {
      this.#feed(EMPTY);
      // Answered at once: its outcome already ran the flow control.
      if (this.#feeds === 0 || this.#done) return;
      queued = this.#transport.queued;
      more = this.#parser.hasMore;
    }
    // A huge request is received and run only while this connection holds the slot; the slot
    // is released once the request is answered.
    const huge = this.#parser.receiving > HUGE_ARGS;
    if (huge && !this.#huge) this.#huge = this.#owner.acquireHuge(this);
    else if (!huge && this.#huge && this.#feeds === 0) {
      this.#huge = false;
      this.#owner.releaseHuge(this);
    }
    const waiting = huge && !this.#huge;
    const pause = queued > OUTPUT_HIGH || more || this.#feeding > INPUT_HIGH || waiting;
    if (pause === this.#paused) return;
    this.#paused = pause;
    if (pause) this.#transport.pause();
    else this.#transport.resume();
  }

  /** Disconnects (and returns true) past the output-buffer limits. */
  checkLimits(now: number): boolean {
    return !this.#done && this.#overLimit(now);
  }

  #overLimit(now: number): boolean {
    const { outputHard, outputSoft, outputSoftSeconds } = this.#owner.config;
    const queued = this.#transport.queued;
    let reason: string | undefined;
    if (outputHard > 0 && queued > outputHard) {
      reason = `over the hard limit of ${outputHard}`;
    } else if (outputSoft > 0 && queued > outputSoft) {
      if (this.#softSince === 0) this.#softSince = now;
      else if (now - this.#softSince >= outputSoftSeconds * 1000) {
        reason = `over the soft limit of ${outputSoft} for ${outputSoftSeconds} s`;
      }
    } else {
      this.#softSince = 0;
    }
    if (reason === undefined) return false;
    this.#owner.log(
      `shardkv server: closing a client whose ${queued} unread reply bytes are ${reason}`,
    );
    this.destroy();
    return true;
  }
}

/**
 * Every connection of one server: creates each one's parser and session, sweeps for idle
 * clients and closes them all at shutdown.
 */
export class ConnectionSet {
  /** The server's options, read live (CONFIG SET changes them). */
  readonly config: ServerConfig;
  readonly log: Log;
  #conns = new Set<Connection>();
  #session: (parser: RespParser) => Session;
  #sweeper: ReturnType<typeof setTimeout> | undefined;
  #closed = false;

  constructor(
    session: (parser: RespParser) => Session,
    options: { config: ServerConfig; log: Log },
  ) {
    this.#session = session;
    this.config = options.config;
    this.log = options.log;
    this.#schedule();
  }

  /** The next idle/output-limit sweep: 4 per `timeout` (10 ms to 1 s apart), as it is now. */
  #schedule(): void {
    if (this.#closed) return;
    const { timeout } = this.config;
    const every = Math.max(10, Math.min(1000, timeout > 0 ? timeout * 250 : 1000));
    this.#sweeper = setTimeout(() => {
      this.#sweep();
      this.#schedule();
    }, every);
  }

  /** The `accept` callback of a {@linkcode Listen}. */
  accept = (transport: Transport): ConnectionEvents => {
    const { protoMaxBulkLen, clientQueryBufferLimit, maxclients } = this.config;
    if (this.#conns.size >= maxclients) {
      // Redis's acceptCommonHandler: an error, then the connection is closed.
      transport.write(encodeReply(new ErrorReply("ERR max number of clients reached")));
      transport.end();
      return { data() {}, drain() {}, closed() {} };
    }
    const parser = new RespParser({
      maxBulkLength: protoMaxBulkLen,
      maxQueryBuffer: clientQueryBufferLimit,
    });
    parser.batch = BATCH_INITIAL;
    // A huge request stays compact (its bytes plus 8 bytes per argument) until its command runs.
    packAbove(parser, HUGE_ARGS);
    const conn = new Connection(this, transport, parser, this.#session(parser));
    this.#conns.add(conn);
    return conn;
  };

  forget(conn: Connection): void {
    this.#conns.delete(conn);
    this.releaseHuge(conn);
  }

  #hugeHolder: Connection | undefined;
  #hugeWaiting = new Set<Connection>();

  /** Takes the huge-request slot for `conn` (true), or queues it for a wake-up (false). */
  acquireHuge(conn: Connection): boolean {
    if (this.#hugeHolder !== undefined && this.#hugeHolder !== conn) {
      this.#hugeWaiting.add(conn);
      return false;
    }
    this.#hugeHolder = conn;
    this.#hugeWaiting.delete(conn);
    return true;
  }

  /** Gives the slot back (or stops waiting for it) and wakes the longest waiter. */
  releaseHuge(conn: Connection): void {
    this.#hugeWaiting.delete(conn);
    if (this.#hugeHolder !== conn) return;
    this.#hugeHolder = undefined;
    const next = this.#hugeWaiting.values().next();
    if (!next.done) {
      this.#hugeWaiting.delete(next.value);
      next.value.wake();
    }
  }

  /** Disconnects every client and stops the sweeper. */
  closeAll(): void {
    this.#closed = true;
    clearTimeout(this.#sweeper);
    for (const conn of [...this.#conns]) {
      try {
        conn.destroy();
      } catch {
        // Already closed by the client.
      }
    }
  }

  #sweep(): void {
    const now = Date.now();
    const ms = this.config.timeout * 1000;
    for (const conn of [...this.#conns]) {
      if (conn.checkLimits(now)) continue;
      if (ms > 0 && conn.idle(now, ms)) conn.destroy();
    }
  }
}

/**
 * Retry pacing for a failing accept (EMFILE, ENFILE...): the delay grows from 10 ms to 1 s. One
 * log line starts an episode of failures, and one ends it: the first successful accept at least
 * a second after the last failure (accepts in between, as fds free up, do not end it).
 */
export class AcceptBackoff {
  #log: Log;
  #failures = 0;
  #streak = 0;
  #lastFailure = 0;

  constructor(log: Log) {
    this.#log = log;
  }

  /** Records a failed accept; returns how long to wait before the next one (ms). */
  failed(error: unknown): number {
    this.#lastFailure = Date.now();
    if (this.#failures++ === 0) {
      const message = error instanceof Error ? error.message : String(error);
      this.#log(`shardkv server: accepting connections failed (${message}); retrying`);
    }
    return Math.min(1000, 10 * 2 ** Math.min(this.#streak++, 7));
  }

  /** Records a successful accept. */
  succeeded(): void {
    this.#streak = 0;
    if (this.#failures === 0 || Date.now() - this.#lastFailure < 1000) return;
    this.#log(`shardkv server: accepting connections again after ${this.#failures} failures`);
    this.#failures = 0;
  }
}
