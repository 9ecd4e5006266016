/**
 * The shape of a benchmark case and the A B A B scheduling shared by all of them.
 *
 * A case fills tables: one per operation (push, pull, GET), with one row per contender. Each round
 * runs every contender once, in the listed order on even rounds and in reverse on odd rounds, so that
 * a slow spell of a shared machine falls on all contenders alike and no contender always goes first.
 */
import type { Tools } from './environment.js';

/** Kind of a row: ocidrop itself, a peer it competes with, or a limit of the machine. */
export type Role = 'ocidrop' | 'peer' | 'limit';

/** One measured operation. */
export interface Sample {
  /** Wall-clock seconds. */
  seconds: number;
  /** Peak RSS of the client process in bytes. */
  clientRss?: number | undefined;
  /** Peak RSS of the server process in bytes during the operation. */
  serverRss?: number | undefined;
  /** User plus system CPU seconds of the client process. */
  clientCpu?: number | undefined;
  /** User plus system CPU seconds the server used during the operation. */
  serverCpu?: number | undefined;
  /** Requests per second, for request-rate rows. */
  requestsPerSecond?: number;
}

/** One contender in one table. */
export interface Row {
  name: string;
  role: Role;
  /** Bytes moved by one operation, for throughput; 0 when throughput means nothing. */
  bytes: number;
  samples: Sample[];
  /** Why the row has no (or too few) samples: a missing tool or a failure. */
  error?: string;
}

/** The rows of one operation. */
export interface Table {
  title: string;
  /** `time` tables rank by median seconds and throughput, `rate` tables by requests per second. */
  kind: 'time' | 'rate';
  rows: Row[];
}

/** A case's results for the page. */
export interface CaseResult {
  id: string;
  title: string;
  /** The script under `bench/cases/` that reruns the case by hand. */
  script: string;
  /** Sizes and settings used in this mode. */
  settings: string;
  tables: Table[];
  notes: string[];
}

/** Everything a case needs to run. */
export interface CaseContext {
  quick: boolean;
  rounds: number;
  tools: Tools;
  /** `build/src/cli/main.js`. */
  cli: string;
  /** Reason ocidrop cannot run (the built CLI fails), or `undefined` when it can. */
  ocidropMissing: string | undefined;
  /** A temporary folder for this case, deleted afterwards. */
  scratch: string;
  log(line: string): void;
}

/** Creates a row. */
export function row(name: string, role: Role, bytes: number): Row {
  return { name, role, bytes, samples: [] };
}

/**
 * Runs `rounds` rounds of `steps` in A B A B order, reversing the order on odd rounds.
 * A step that throws marks its row as failed and is skipped in later rounds; the other steps go on.
 */
export async function alternate(rounds: number, steps: Step[], log: (line: string) => void): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? steps : [...steps].reverse();
    for (const step of order) {
      if (step.rows.every((one) => one.error !== undefined)) continue;
      try {
        await step.run(round);
      } catch (error) {
        const message = shortMessage(error);
        for (const one of step.rows) one.error ??= `failed: ${message}`;
        log(`  ${step.rows[0]?.name ?? 'step'} failed: ${message}`);
      }
    }
  }
}

/**
 * Runs one operation of a step that fills several rows (a push, then a pull). A failure marks only
 * `target` and returns false, so the step can go on with the rows that do not depend on it. A row
 * that failed once is skipped in later rounds.
 */
export async function attempt(
  target: Row,
  operation: () => Promise<void>,
  log: (line: string) => void,
): Promise<boolean> {
  if (target.error !== undefined) return false;
  try {
    await operation();
    return true;
  } catch (error) {
    target.error = `failed: ${shortMessage(error)}`;
    log(`  ${target.name} failed: ${shortMessage(error)}`);
    return false;
  }
}

/** One contender's work in a round, filling the samples of `rows`. */
export interface Step {
  rows: Row[];
  run(round: number): Promise<void>;
}

function shortMessage(error: unknown): string {
  return (error as Error).message.split('\n').slice(0, 3).join(' ').slice(0, 300);
}

/** Marks rows as skipped with a reason, when a tool they need is missing. */
export function skip(rows: Row[], reason: string): void {
  for (const one of rows) one.error = reason;
}

/** Median, min and max of numbers; `undefined` for none. */
export function summarize(values: number[]): { median: number; min: number; max: number } | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/**
 * Computes the figure of merit of a row, higher is better: bytes per second at the median time for `time`
 * tables (or 1/seconds when the row moves no bytes), requests per second for `rate` tables.
 */
export function merit(table: Table, one: Row): number | undefined {
  if (table.kind === 'rate')
    return summarize(one.samples.map((sample) => sample.requestsPerSecond ?? 0))?.median;
  const seconds = summarize(one.samples.map((sample) => sample.seconds))?.median;
  if (seconds === undefined || seconds === 0) return undefined;
  return (one.bytes > 0 ? one.bytes : 1) / seconds;
}
