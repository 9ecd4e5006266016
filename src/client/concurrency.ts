/**
 * Running transfers in parallel with a limit on how many run at once.
 */

/** Parallel transfers when the caller sets no limit; 8 keeps small-file pushes from waiting on round trips. */
export const DEFAULT_CONCURRENCY = 8;

/**
 * Calls `action` on each item with at most `limit` calls running at once, and returns the results
 * in input order. After the first failure no new call starts; the calls still running are awaited,
 * then the first error is thrown.
 */
export async function mapWithLimit<T, R>(
  items: readonly T[],
  limit: number,
  action: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;

  const worker = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        results[index] = await action(items[index]!);
      } catch (error) {
        failure ??= { error };
      }
    }
  };

  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  await Promise.all(workers);
  if (failure !== undefined) throw failure.error;
  return results;
}
