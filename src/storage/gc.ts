/**
 * Garbage collection of the filesystem store: removes manifests that no tag reaches, blobs that
 * no remaining manifest references, shared blobs that no repository contains, stale upload
 * sessions and leftover temporary files.
 *
 * A manifest is reachable from a tag, from a reachable index (its child manifests), as the
 * `subject` of a reachable manifest, or as a referrer whose `subject` is reachable. Anything
 * written within the grace period is kept, so collection can run while the registry serves
 * pushes: a client pushes blobs and child manifests before the tag that reaches them.
 */
import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import { DIGEST_ALGORITHMS } from '../oci/digest.js';
import { parseManifest } from '../oci/manifest.js';
import { TEMP_PREFIX } from './atomic.js';
import type { FsStore } from './fs-store.js';
import { StoreLayout } from './layout.js';
import { tagOf } from './repository-index.js';
import { DEFAULT_UPLOAD_TTL_MS } from './uploads.js';

/** Options of {@link gc}. */
export interface GcOptions {
  /**
   * Reports what would be removed without removing anything.
   * @default false
   */
  dryRun?: boolean;
  /**
   * Content written more recently than this many milliseconds is kept even when unreachable.
   * @default 3600000 (one hour)
   */
  gracePeriodMs?: number;
  /**
   * Upload sessions idle for longer than this many milliseconds are removed.
   * @default 3600000 (one hour), the store's default session lifetime
   */
  uploadTtlMs?: number;
}

/** Report of the content a collection removed, or would remove in a dry run. */
export interface GcReport {
  /** Untagged, unreachable manifests, per repository, with their size. */
  manifests: { repository: string; digest: Digest; size: number }[];
  /**
   * Blobs removed from a repository because no remaining manifest references them, with their
   * size. Their bytes are freed only when the shared blob goes too, so they are not in `bytesFreed`.
   */
  repositoryBlobs: { repository: string; digest: Digest; size: number }[];
  /** Shared blobs that no repository contains any more, with their size. */
  blobs: { digest: Digest; size: number }[];
  /** Upload sessions past their lifetime, with the bytes they had received. */
  uploads: { id: string; size: number }[];
  /** Temporary files left by writes that never finished, with their size. */
  tempFiles: { path: string; size: number }[];
  /** Bytes freed on disk: shared blobs, upload sessions and temporary files. */
  bytesFreed: number;
}

/** Default grace period: one hour. */
export const DEFAULT_GC_GRACE_PERIOD_MS = 60 * 60 * 1000;

/**
 * Collects garbage in `store`.
 *
 * Each repository's `index.json` is rewritten under the same lock file the server uses, and only
 * untagged entries are dropped, so a tag pushed while collection runs is never lost.
 *
 * NOTE: a push that finds an old, unreferenced blob already present (`HEAD` returns 200) and then
 * pushes a manifest over it races with collection: the manifest push marks the blob as fresh, but
 * when collection removed the blob just before, the push fails with `MANIFEST_BLOB_UNKNOWN` and
 * the client must push the blob again.
 */
export async function gc(store: FsStore, options: GcOptions = {}): Promise<GcReport> {
  const dryRun = options.dryRun ?? false;
  const grace = options.gracePeriodMs ?? DEFAULT_GC_GRACE_PERIOD_MS;
  const now = Date.now();
  const report: GcReport = {
    manifests: [],
    repositoryBlobs: [],
    blobs: [],
    uploads: [],
    tempFiles: [],
    bytesFreed: 0,
  };
  const isFresh = async (path: string): Promise<boolean> => {
    try {
      return now - (await stat(path)).mtimeMs < grace;
    } catch {
      return false;
    }
  };

  const linked = new Set<Digest>();
  for (const repository of await store.repositories()) {
    await collectRepository(store, repository, dryRun, isFresh, report, linked);
  }

  for (const algorithm of Object.keys(DIGEST_ALGORITHMS)) {
    const folder = join(store.blobs.root, algorithm);
    for (const name of await listFolder(folder)) {
      const path = join(folder, name);
      if (name.startsWith(TEMP_PREFIX)) {
        await collectTempFile(path, dryRun, isFresh, report);
        continue;
      }
      const digest = `${algorithm}:${name}` as Digest;
      if (linked.has(digest) || (await isFresh(path))) continue;
      let info: Awaited<ReturnType<typeof stat>>;
      try {
        info = await stat(path);
      } catch {
        continue;
      }
      // A link count above one means a repository linked the blob after the scan above. A dry
      // run removed no repository link, so there the count is meaningless.
      if (!dryRun && info.nlink > 1) continue;
      report.blobs.push({ digest, size: Number(info.size) });
      report.bytesFreed += Number(info.size);
      if (!dryRun) await unlink(path).catch(() => {});
    }
  }

  const layout = new StoreLayout(store.root);
  for (const id of await store.uploads.listStale(options.uploadTtlMs ?? DEFAULT_UPLOAD_TTL_MS, now)) {
    const size = await sizeOf(join(layout.upload(id), 'data'));
    report.uploads.push({ id, size });
    report.bytesFreed += size;
    if (!dryRun) await store.uploads.remove(id);
  }
  return report;
}

async function collectRepository(
  store: FsStore,
  repository: string,
  dryRun: boolean,
  isFresh: (path: string) => Promise<boolean>,
  report: GcReport,
  linked: Set<Digest>,
): Promise<void> {
  const folder = store.repositoryFolder(repository);
  const index = await store.readIndex(repository);
  const linkPath = (digest: Digest): string => join(folder, 'blobs', ...digest.split(':'));

  // Parse every manifest once: its children, blobs and subject.
  const manifests = new Map<Digest, { children: Digest[]; blobs: Digest[]; subject?: Digest }>();
  for (const entry of index.manifests) {
    if (manifests.has(entry.digest)) continue;
    try {
      const { bytes } = await store.manifest(repository, entry.digest);
      const parsed = parseManifest(bytes, entry.mediaType);
      const node: { children: Digest[]; blobs: Digest[]; subject?: Digest } =
        parsed.kind === 'index'
          ? { children: parsed.manifest.manifests.map((child) => child.digest), blobs: [] }
          : {
              children: [],
              blobs: [parsed.manifest.config.digest, ...parsed.manifest.layers.map((layer) => layer.digest)],
            };
      if (parsed.manifest.subject) node.subject = parsed.manifest.subject.digest;
      manifests.set(entry.digest, node);
    } catch {
      // An unreadable manifest is kept and references nothing; it is no reason to stop collecting.
      manifests.set(entry.digest, { children: [], blobs: [] });
    }
  }

  const reachable = new Set<Digest>();
  const pending: Digest[] = [];
  const reach = (digest: Digest): void => {
    if (!reachable.has(digest) && manifests.has(digest)) {
      reachable.add(digest);
      pending.push(digest);
    }
  };
  for (const entry of index.manifests) if (tagOf(entry) !== undefined) reach(entry.digest);
  for (const [digest] of manifests) if (await isFresh(linkPath(digest))) reach(digest);
  for (;;) {
    while (pending.length > 0) {
      const digest = pending.pop() as Digest;
      const node = manifests.get(digest);
      for (const child of node?.children ?? []) reach(child);
      if (node?.subject) reach(node.subject);
    }
    // Referrers of reachable manifests are reachable; repeat until nothing new is found.
    for (const [digest, node] of manifests) if (node.subject && reachable.has(node.subject)) reach(digest);
    if (pending.length === 0) break;
  }

  const unreachable = [...manifests.keys()].filter((digest) => !reachable.has(digest));
  for (const digest of unreachable)
    report.manifests.push({ repository, digest, size: await sizeOf(linkPath(digest)) });
  if (!dryRun && unreachable.length > 0) {
    const drop = new Set(unreachable);
    await store.updateIndex(repository, (current) => {
      // Keep a digest that gained a tag since the scan.
      const tagged = new Set(
        current.manifests.filter((entry) => tagOf(entry) !== undefined).map((entry) => entry.digest),
      );
      const before = current.manifests.length;
      current.manifests = current.manifests.filter(
        (entry) => !drop.has(entry.digest) || tagged.has(entry.digest),
      );
      return current.manifests.length !== before;
    });
  }

  const referenced = new Set<Digest>();
  for (const digest of reachable) {
    referenced.add(digest);
    for (const blob of manifests.get(digest)?.blobs ?? []) referenced.add(blob);
  }
  for (const algorithm of Object.keys(DIGEST_ALGORITHMS)) {
    for (const name of await listFolder(join(folder, 'blobs', algorithm))) {
      const digest = `${algorithm}:${name}` as Digest;
      const path = join(folder, 'blobs', algorithm, name);
      if (name.startsWith(TEMP_PREFIX)) {
        await collectTempFile(path, dryRun, isFresh, report);
        continue;
      }
      if (referenced.has(digest) || (await isFresh(path))) {
        linked.add(digest);
        continue;
      }
      report.repositoryBlobs.push({ repository, digest, size: await sizeOf(path) });
      if (!dryRun) await unlink(path).catch(() => {});
    }
  }
}

async function collectTempFile(
  path: string,
  dryRun: boolean,
  isFresh: (path: string) => Promise<boolean>,
  report: GcReport,
): Promise<void> {
  if (await isFresh(path)) return;
  const size = await sizeOf(path);
  report.tempFiles.push({ path, size });
  report.bytesFreed += size;
  if (!dryRun) await unlink(path).catch(() => {});
}

/** Returns the size of a file, or 0 when it is gone. */
async function sizeOf(path: string): Promise<number> {
  try {
    return Number((await stat(path)).size);
  } catch {
    return 0;
  }
}

async function listFolder(folder: string): Promise<string[]> {
  try {
    return await readdir(folder);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}
