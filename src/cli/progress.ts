/**
 * Progress bars for transfers, one per file with its speed and the time left. They are drawn on
 * stderr only when it is a terminal, so that pipes and log files get nothing.
 */
import cliProgress from 'cli-progress';
import type { ProgressListener } from '../client/progress.js';

/** A progress listener and the function that removes the bars when the command ends. */
export interface ProgressDisplay {
  listener: ProgressListener | undefined;
  stop(): void;
}

/** Creates bars on `stream` when it is a TTY; otherwise a display that does nothing. */
export function createProgressDisplay(stream: NodeJS.WriteStream = process.stderr): ProgressDisplay {
  if (!stream.isTTY) return { listener: undefined, stop() {} };

  const multibar = new cliProgress.MultiBar(
    {
      stream,
      format: '{title} [{bar}] {percentage}% | {done}/{size} | {speed} | ETA {eta_formatted}',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  // A bar may first appear with bytes already sent (an upload starts while its file is being
  // hashed, and its digest names the bar), so its speed counts from the bytes of its first event.
  const bars = new Map<string, { bar: cliProgress.SingleBar; started: number; startBytes: number }>();

  const listener: ProgressListener = (progress) => {
    let entry = bars.get(progress.digest);
    if (entry === undefined) {
      const bar = multibar.create(
        Math.max(progress.total, 1),
        0,
        payload(progress.title, 0, progress.total, 0),
      );
      entry = { bar, started: Date.now(), startBytes: progress.transferred };
      bars.set(progress.digest, entry);
    }
    const seconds = Math.max((Date.now() - entry.started) / 1000, 0.001);
    const transferred = progress.state === 'skipped' ? progress.total : progress.transferred;
    const title =
      progress.state === 'skipped' ? `${progress.title} (already in the registry)` : progress.title;
    entry.bar.update(
      transferred,
      payload(title, transferred, progress.total, (progress.transferred - entry.startBytes) / seconds),
    );
  };
  return { listener, stop: () => multibar.stop() };
}

/** Formats a byte count with binary units, such as `1.5 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

function payload(title: string, transferred: number, total: number, bytesPerSecond: number) {
  return {
    title,
    done: formatBytes(transferred),
    size: formatBytes(total),
    speed: `${formatBytes(Math.round(bytesPerSecond))}/s`,
  };
}
