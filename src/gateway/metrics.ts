/**
 * Prometheus metrics of the gateway (prom-client): downloads and bytes sent per repository, version
 * and platform, and how long upstream reads take. Each gateway gets its own registry, so two
 * gateways in one process (as in tests) never share counters.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import type { BlobReader, ByteRange, ContentSource, FetchedManifest } from '../content/source.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';

/** The metrics one gateway records. */
export class GatewayMetrics {
  /** The registry `/-/metrics` renders. */
  readonly registry: Registry;
  private readonly downloads: Counter<'repository' | 'version' | 'platform'>;
  private readonly bytes: Counter<'repository' | 'version' | 'platform'>;
  private readonly upstream: Histogram<'upstream' | 'operation' | 'outcome'>;

  constructor() {
    this.registry = new Registry();
    this.downloads = new Counter({
      name: 'ocidrop_gateway_downloads_total',
      help: 'Downloads that ended, whole files and ranges alike, by public repository name, version and platform (any for builds without one); redirects to storage count when sent.',
      labelNames: ['repository', 'version', 'platform'],
      registers: [this.registry],
    });
    this.bytes = new Counter({
      name: 'ocidrop_gateway_download_bytes_total',
      help: 'Bytes of file content sent, by public repository name, version and platform.',
      labelNames: ['repository', 'version', 'platform'],
      registers: [this.registry],
    });
    this.upstream = new Histogram({
      name: 'ocidrop_gateway_upstream_duration_seconds',
      help: 'Time until a source returned a listing or a manifest, or until a blob began to stream, by upstream and operation.',
      labelNames: ['upstream', 'operation', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
  }

  /** Counts one download of `bytes` bytes, once its response has ended. */
  recordDownload(repository: string, version: string, platform: string, bytes: number): void {
    const labels = { repository, version, platform };
    this.downloads.inc(labels);
    this.bytes.inc(labels, bytes);
  }

  /** Records how long one upstream operation took. */
  observeUpstream(upstream: string, operation: string, outcome: 'ok' | 'error', seconds: number): void {
    this.upstream.observe({ upstream, operation, outcome }, seconds);
  }

  /** Renders every metric in the Prometheus text format. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The `Content-Type` of {@link render}'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }
}

/**
 * Wraps a source so that every call is timed into `metrics` under `upstream`. A blob is timed until
 * its stream is ready, not until it ends, because the end depends on the visitor's bandwidth.
 */
export function timedSource(source: ContentSource, metrics: GatewayMetrics, upstream: string): ContentSource {
  const time = async <T>(operation: string, action: () => Promise<T>): Promise<T> => {
    const started = process.hrtime.bigint();
    let outcome: 'ok' | 'error' = 'error';
    try {
      const result = await action();
      outcome = 'ok';
      return result;
    } finally {
      metrics.observeUpstream(upstream, operation, outcome, Number(process.hrtime.bigint() - started) / 1e9);
    }
  };
  const timed: ContentSource = {
    repositories: () => time('repositories', () => source.repositories()),
    tags: (repository: string) => time('tags', () => source.tags(repository)),
    manifest: (repository: string, reference: string): Promise<FetchedManifest> =>
      time('manifest', () => source.manifest(repository, reference)),
    blob: (repository: string, digest: Digest, range?: ByteRange): Promise<BlobReader> =>
      time('blob', () => source.blob(repository, digest, range)),
  };
  if (source.blobUrl) {
    const blobUrl = source.blobUrl.bind(source);
    timed.blobUrl = (repository: string, digest: Digest) =>
      time('blob_url', () => blobUrl(repository, digest));
  }
  if (source.referrers) {
    const referrers = source.referrers.bind(source);
    timed.referrers = (repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> =>
      time('referrers', () => referrers(repository, digest, artifactType));
  }
  return timed;
}
