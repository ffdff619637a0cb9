// What server/mod.ts needs from a runtime's TCP listener; each runtime's adapter implements it.
import type { FeedResult } from "./session.ts";

/** A connection's protocol side, as the adapter sees it. */
export interface ConnectionHandler {
  feed(chunk: Uint8Array): Promise<FeedResult>;
  end(): void;
}

/** A listening socket. */
export interface ListenerHandle {
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
  /** Stops accepting and closes every open connection. */
  close(): Promise<void>;
}

/** Binds `hostname:port` and calls `accept` for each new connection. */
export type Listen = (
  address: { hostname: string; port: number },
  accept: () => ConnectionHandler,
) => Promise<ListenerHandle>;
