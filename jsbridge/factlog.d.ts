// Types for factlog's JavaScript API, both builds of it: node.js (the
// package's "node" export) and factlog.js (browsers, and the rest). The
// project's README.md tours it: what a store is, how replicas sync, where
// it runs, how to bundle it.

declare global {
  // Where TypeScript's lib lacks it (before esnext.disposable); the same
  // declaration merges with the lib's where it has it.
  interface SymbolConstructor {
    readonly asyncDispose: unique symbol;
  }
}

/** Any JSON value: what an event's value may be. */
export type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

/**
 * A value SQL can take as a parameter or return in a row. A BLOB is a
 * Uint8Array. An INTEGER comes back as a number, or as a BigInt when a
 * number cannot hold it exactly (2 ** 53 + 1, say; a number that came
 * from JavaScript always comes back a number); a whole number or a BigInt
 * binds as an INTEGER, other numbers as REAL.
 */
export type SQLValue = null | number | bigint | string | Uint8Array | boolean;

/**
 * Parameters of a statement: positional (?, ?1) or named (:name, @name,
 * $name; a key may leave out the sign). Every parameter of the statement
 * must be given: a missing one is an INVALID_ARGUMENT, not a NULL.
 */
export type Params = SQLValue[] | Record<string, SQLValue>;

/** Options of a call that can take long. */
export interface CallOptions {
  /** Aborts the call: it rejects with code ABORTED, and what it did is undone. */
  signal?: AbortSignal;
}

/** A fact in the log. Events never change. */
export interface Event {
  /** SHA-256 of the event's canonical encoding, 64 hex digits. */
  id: string;
  /** The author replica's id (hex). */
  peer: string;
  /** The author's sequence number: 1, 2, 3 … */
  seq: number;
  /** Ids of the events the author had seen (DAG heads), sorted. */
  parents: string[];
  /** Lamport clock: 1 + the largest parent clock. Replay order is (clock, id). */
  clock: number;
  /** The author's wall clock, Unix ms. Shown to users, never used for order. */
  time: number;
  /** What the event is about (the seed's item_id). */
  item: string;
  /** The event type; it selects the materializer. */
  type: string;
  value: JSONValue;
}

export interface OpenOptions {
  /**
   * The store's name: in a browser a file in the Origin Private File System
   * (persisted across reloads), in Node a file path. ":memory:" (the
   * default) keeps the store in memory.
   */
  name?: string;
  /** SQL that creates the state tables (and their indexes and views). */
  schema?: string;
  /**
   * SQL per event type, run for each event in replay order with the event
   * bound as :id :peer :seq :clock :time :item :type :value (value as JSON
   * text for objects and arrays, a native value for scalars; true/false as
   * 1/0). The type "*" runs for every event. An empty string declares a
   * type whose events change no state. A local append of a type that is
   * neither declared nor caught by "*" is refused (INVALID_ARGUMENT), since
   * it would do nothing; events of unknown types from other replicas are
   * kept. When the schema or the materializers change, the state is
   * rebuilt from the whole log.
   */
  materializers?: Record<string, string>;
  /** Called while the state is rebuilt: events applied so far, and in all. */
  onProgress?: (done: number, total: number) => void;
  /** Aborts the open (and the rebuild it may do). */
  signal?: AbortSignal;
}

export interface ImportResult {
  /** Events stored, including earlier pending ones they completed. */
  added: number;
  /** Events of the batch that wait: for missing parents, or for a signature of their author's (which a later chunk brings). */
  pending: number;
  /** Events of the batch already held. */
  duplicates: number;
  /** Events of the batch that would wait but did not fit the pending set: send their ancestors first, then them again. */
  refused: number;
  /** Events the state held before that the import undid and applied again, because new events sort before them: what a late merge cost. */
  reapplied: number;
  /** Events whose materializer failed: kept in the log, without effect. */
  skipped: { code: string; message: string }[];
  /** Earlier pending events that proved invalid and were discarded. */
  dropped: string[];
}

export interface Fork {
  /** The author's peer id. */
  peer: string;
  seq: number;
  /** The ids of the events at that seq. */
  ids: string[];
}

export interface PendingInfo {
  events: number;
  bytes: number;
  /** Of them, those no verified signature of their author's covers yet. */
  unsigned: number;
  /** Ids the pending events wait for that this replica holds nowhere. */
  missing: string[];
}

/** Error codes of rejected calls. */
export type ErrorCode =
  /** A bad argument; the message says what to pass. */
  | "INVALID_ARGUMENT"
  | "INVALID_EVENT"
  | "INVALID_BATCH"
  | "MATERIALIZER"
  | "SCHEMA"
  | "SQL"
  | "CLOSED"
  | "LOCKED"
  | "NO_MEMORY"
  /** The call's AbortSignal fired; nothing it did was kept. */
  | "ABORTED"
  /**
   * The engine stopped (its Worker died): open the store again. Or it could
   * not start: a file of the package (factlog.wasm, worker.js, a chunk-*.js)
   * did not load from beside factlog.js or its bundle; the message names it.
   */
  | "UNAVAILABLE"
  /** This environment lacks what the call needs (a WebSocket in Node 20: install ws; Node given the browsers' build). */
  | "UNSUPPORTED"
  | "INTERNAL";

/** Every rejection is a FactlogError with a stable code. */
export class FactlogError extends Error {
  constructor(code: ErrorCode, message: string, options?: ErrorOptions);
  readonly name: "FactlogError";
  readonly code: ErrorCode;
}

export interface Database {
  /** This replica's id. Every tab of one store is one replica. */
  readonly peer: string;
  readonly name: string;
  /** Whether the data outlives the page or process. */
  readonly persisted: boolean;
  /** Why a named store is kept in memory (no OPFS), or null. */
  readonly warning: string | null;
  /**
   * "leader" if this tab (or process) runs the store; "follower" if it
   * calls through the tab that does. It changes when the leader goes.
   */
  readonly role: "leader" | "follower";
  /** Calls fn with the new role whenever it changes; returns a function that stops it. */
  onRole(fn: (role: "leader" | "follower") => void): () => void;

  /** Appends an event whose parents are the current heads; returns it. */
  append(item: string | number, type: string, value?: JSONValue): Promise<Event>;
  /** Appends several events in one transaction. */
  appendMany(events: { item: string | number; type: string; value?: JSONValue }[]): Promise<Event[]>;
  /** Runs one SQL statement; returns its rows as objects. */
  query<Row = Record<string, SQLValue>>(sql: string, params?: Params | null, options?: CallOptions): Promise<Row[]>;
  /** The events about one item (or all), in replay order: the audit trail. */
  events(filter?: { item?: string | number }, options?: CallOptions): Promise<Event[]>;
  /** The ids of the DAG's leaves. */
  heads(): Promise<string[]>;
  /**
   * What this replica holds: for each author, the tips of its chains, as
   * { "<peer>:<tip id>": seq } — one per author, unless its events forked
   * (then, too, a few events below a waiting event that parted from a
   * chain held here, so that exportSince finds where the branches part).
   */
  versionVector(): Promise<Record<string, number>>;
  /** A batch of every event a replica holding vv lacks ({} for all). */
  exportSince(vv?: Record<string, number>, options?: CallOptions): Promise<Uint8Array>;
  /** Imports a batch from exportSince. Idempotent; all or nothing. */
  import(batch: Uint8Array, options?: CallOptions): Promise<ImportResult>;
  /** What waits for missing parents or for a signature. */
  pending(): Promise<PendingInfo>;
  /**
   * The forks this replica holds: an author's seq held by more than one
   * event — its device's store was copied, or a backup restored, and both
   * appended. Every replica keeps every branch and computes the same state.
   */
  forks(): Promise<Fork[]>;
  /** Rebuilds the state from the whole log with another schema and materializers. */
  reinterpret(
    interpretation: { schema?: string; materializers?: Record<string, string> },
    options?: ((done: number, total: number) => void) | (CallOptions & { onProgress?: (done: number, total: number) => void }),
  ): Promise<void>;
  /**
   * Calls callback with the rows now, and again whenever a table the query
   * reads changes (bursts coalesced). Returns a function that stops it.
   */
  watch<Row = Record<string, SQLValue>>(
    sql: string,
    params: Params | undefined,
    callback: (rows: Row[]) => void,
    onError?: (error: FactlogError) => void,
  ): () => void;
  watch<Row = Record<string, SQLValue>>(sql: string, callback: (rows: Row[]) => void, onError?: (error: FactlogError) => void): () => void;
  /**
   * Keeps the store in sync with a relay room (ws[s]://host/v1/rooms/ROOM)
   * until the link or the store is closed: it joins from where it left off,
   * imports what the room holds, publishes what the room lacks, and
   * reconnects with backoff after faults. In a browser every tab of a store
   * shares one link per URL and token, run by the leader. A URL whose path
   * does not end in /v1/rooms/ROOM (a path before /v1 is fine), ROOM being
   * 1 to 128 letters, digits and . _ ~ - (not . or ..) once percent-decoded, is a link
   * that ends at once, and a token the relay refuses ends it when the relay
   * says so: status "closed", code INVALID_ARGUMENT. So does a link
   * whose token expires: the relay closes it then (connect again with a
   * new token).
   */
  connect(url: string, options?: ConnectOptions): Link;
  /** Closes the store (and its links); later calls reject with code CLOSED. */
  close(): Promise<void>;
  /** `await using db = await open(…)` closes it at the end of the block. */
  [Symbol.asyncDispose](): Promise<void>;
}

export interface ConnectOptions {
  /** The room token, if the relay requires one. */
  token?: string;
  onStatus?: (status: LinkStatus) => void;
  /**
   * The WebSocket class to dial with (default: the global one; in Node 20,
   * which has none, the ws package's if it is installed).
   */
  WebSocket?: new (url: string) => unknown;
}

export interface LinkStatus {
  state: "connecting" | "catching-up" | "online" | "offline" | "closed";
  /** Why the link is offline, or what the relay refused. */
  error?: string;
  /**
   * Why the link ended by itself (state "closed"): INVALID_ARGUMENT for a
   * URL that names no room, or for a token the relay refused (when the
   * link connected, or when the token expired; error says why).
   */
  code?: ErrorCode;
  /** "epoch_changed" (the relay's store was replaced) or "truncated" (retention dropped what this replica missed). */
  notice?: string;
  /** The last seq of the room this replica has processed. */
  cursor: number;
  /** Why events from the room were refused, newest last (the valid events of other authors around them were kept). */
  rejected?: string[];
  /** The forks the store holds (see Database.forks). */
  forks?: Fork[];
}

export interface Link {
  /** The latest status. */
  readonly status: LinkStatus;
  /** Calls fn on every status change; returns a function that stops it. */
  onStatus(fn: (status: LinkStatus) => void): () => void;
  close(): Promise<void>;
}

/** Opens (or creates) a store. */
export function open(options?: OpenOptions): Promise<Database>;

/** One column of one row of a last-write-wins table. */
export interface Register {
  id: string;
  column: string;
  value: JSONValue;
  /** The register's Lamport clock: a local write moves it one past itself; a merge keeps the higher, and on a tie the value whose canonical JSON (keys sorted, no spaces) is bytewise larger: `"b"` beats `"a"`, and `9` beats `10`. */
  clock: number;
}

/** A table of last-write-wins registers (the seed's first system), for comparison with the event log. */
export interface Registers {
  readonly name: string;
  readonly persisted: boolean;
  /** Why a named table is kept in memory (no OPFS), or null. */
  readonly warning: string | null;
  readonly role: "leader" | "follower";
  /** Calls fn with the new role whenever it changes; returns a function that stops it. */
  onRole(fn: (role: "leader" | "follower") => void): () => void;
  /** Writes one column of one row. */
  set(id: string | number, column: string, value: JSONValue): Promise<Register>;
  /** The rows: { id, ...columns }. */
  rows<Row = Record<string, SQLValue>>(): Promise<Row[]>;
  /** Every register with its clock: the internal state. */
  state(): Promise<Register[]>;
  /** The whole state, compressed, to merge into another replica. */
  exportState(): Promise<Uint8Array>;
  /** Keeps, column by column, the winner of this state and another's. */
  merge(state: Uint8Array): Promise<{ changed: number }>;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Opens (or creates) a table of registers; name as in open(). A table made before with fewer columns gets the others. A file that holds more than tables of registers (an event store, another application's database) is refused with INVALID_ARGUMENT and left as it was. */
export function openRegisters(options: { name?: string; table: string; columns: string[]; signal?: AbortSignal }): Promise<Registers>;
