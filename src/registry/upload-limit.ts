/**
 * A cap on open upload sessions, per repository and in total. Each session is a folder on disk
 * until it completes, is cancelled or expires, so without a cap a client could open sessions
 * until the disk or its inode table runs out. A `POST` past the cap gets `429 TOOMANYREQUESTS`
 * with `Retry-After` (distribution-spec `spec.md`, "Error Codes").
 */
import { RegistryError } from '../oci/errors.js';
import { DEFAULT_UPLOAD_TTL_MS } from '../storage/uploads.js';

/** Open upload sessions allowed in one repository by default. */
export const DEFAULT_MAX_UPLOAD_SESSIONS_PER_REPOSITORY = 100;

/** Open upload sessions allowed in the whole registry by default. */
export const DEFAULT_MAX_UPLOAD_SESSIONS = 1000;

/**
 * A `POST` that would open a session past the cap: `429 TOOMANYREQUESTS`, with the seconds until
 * the oldest idle session that counts against the cap expires, which the server sends as `Retry-After`.
 */
export class UploadLimitError extends RegistryError {
  override name = 'UploadLimitError';
  /** Seconds until a slot frees by expiry, at least 1. */
  readonly retryAfterSeconds: number;

  constructor(message: string, retryAfterSeconds: number) {
    super('TOOMANYREQUESTS', message, { retryAfter: retryAfterSeconds });
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** Options of {@link UploadSessionLimit}. */
export interface UploadSessionLimitOptions {
  /** Open sessions allowed in one repository. @default 100 */
  perRepository?: number;
  /** Open sessions allowed in the whole registry. @default 1000 */
  total?: number;
  /**
   * Time after its last request at which a session no longer counts, matching the store's
   * upload expiry. @default one hour
   */
  ttlMs?: number;
}

/** A session counted against the cap, or a slot reserved for one while its `POST` runs. */
interface Entry {
  repository: string;
  lastSeen: number;
}

/**
 * Counts the upload sessions this process opened and rejects a new one past the cap.
 *
 * NOTE: sessions left on disk by an earlier run of the process are not counted, so right after a
 * restart the disk can hold up to the cap plus the sessions of the earlier run until they expire.
 */
export class UploadSessionLimit {
  private readonly perRepository: number;
  private readonly total: number;
  private readonly ttlMs: number;
  private readonly sessions = new Map<string, Entry>();
  private nextReservation = 0;

  constructor(options: UploadSessionLimitOptions = {}) {
    this.perRepository = options.perRepository ?? DEFAULT_MAX_UPLOAD_SESSIONS_PER_REPOSITORY;
    this.total = options.total ?? DEFAULT_MAX_UPLOAD_SESSIONS;
    this.ttlMs = options.ttlMs ?? DEFAULT_UPLOAD_TTL_MS;
    for (const [name, value] of [
      ['perRepository', this.perRepository],
      ['total', this.total],
    ] as const) {
      if (!Number.isInteger(value) || value < 1)
        throw new RangeError(`upload session limit ${name} must be a positive integer, got ${value}`);
    }
  }

  /**
   * Reserves a slot for a session in `repository` before it is created. The caller passes the
   * returned key to {@link opened} with the new session id, or to {@link closed} when none was opened.
   * @throws UploadLimitError (429 `TOOMANYREQUESTS`) when the repository or the registry is at its cap.
   */
  reserve(repository: string, now = Date.now()): string {
    this.prune(now);
    let inRepository = 0;
    for (const entry of this.sessions.values()) if (entry.repository === repository) inRepository++;

    if (inRepository >= this.perRepository || this.sessions.size >= this.total) {
      const full = inRepository >= this.perRepository;
      const scope = full
        ? `repository ${repository} has ${inRepository} open upload sessions, the maximum`
        : `the registry has ${this.sessions.size} open upload sessions, the maximum`;
      const seconds = this.secondsUntilExpiry(full ? repository : undefined, now);
      throw new UploadLimitError(
        `${scope}. Complete a session with PUT or cancel it with DELETE /v2/<name>/blobs/uploads/<id> to free a slot now, or retry after ${seconds} seconds, when the oldest idle session expires`,
        seconds,
      );
    }
    const key = `reservation:${this.nextReservation++}`;
    this.sessions.set(key, { repository, lastSeen: now });
    return key;
  }

  /** Turns a reservation into the session `id` that the store created for it. */
  opened(reservation: string, id: string, now = Date.now()): void {
    const entry = this.sessions.get(reservation);
    this.sessions.delete(reservation);
    if (entry !== undefined) this.sessions.set(id, { repository: entry.repository, lastSeen: now });
  }

  /** Marks a session as used now, so that it counts until it expires after this request. */
  touch(id: string, now = Date.now()): void {
    const entry = this.sessions.get(id);
    if (entry !== undefined) entry.lastSeen = now;
  }

  /**
   * Stops counting a session or a reservation: it completed, was cancelled or was never created.
   * With `repository`, only a session of that repository is dropped, so a request naming another
   * repository's session id cannot free its slot.
   */
  closed(key: string, repository?: string): void {
    if (repository === undefined || this.sessions.get(key)?.repository === repository)
      this.sessions.delete(key);
  }

  /** Number of sessions and reservations counted now. */
  get size(): number {
    return this.sessions.size;
  }

  // Seconds until the least recently used session of `repository` (or of any repository) expires.
  private secondsUntilExpiry(repository: string | undefined, now: number): number {
    let oldest = now;
    for (const entry of this.sessions.values()) {
      if (repository === undefined || entry.repository === repository)
        oldest = Math.min(oldest, entry.lastSeen);
    }
    return Math.max(1, Math.ceil((oldest + this.ttlMs - now) / 1000));
  }

  // Drops sessions the store would have expired, because nothing tells this class about expiry.
  private prune(now: number): void {
    for (const [key, entry] of this.sessions) {
      if (now - entry.lastSeen > this.ttlMs) this.sessions.delete(key);
    }
  }
}
