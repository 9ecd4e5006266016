/**
 * Output of the commands: results on stdout, one error line on stderr with a
 * non-zero exit, and the stack trace only when `OCIDROP_DEBUG=1`.
 */
import { OcidropError } from '../oci/errors.js';

/** Writes `value` as indented JSON to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes lines to stdout. */
export function printLines(lines: string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

/** Writes `error` to stderr as one line starting with `ocidrop:`, plus its stack and causes under `OCIDROP_DEBUG=1`. */
export function printError(error: unknown): void {
  const system = describeSystemError(error);
  const message = system ?? (error instanceof Error ? error.message : String(error));
  let code = error instanceof OcidropError ? ` [${error.code}]` : '';
  if (system !== undefined) code = ` [${(error as { code: string }).code}]`;
  process.stderr.write(`ocidrop: ${message.replace(/\s*\n\s*/g, ' ')}${code}\n`);
  if (process.env['OCIDROP_DEBUG'] === '1') {
    let current: unknown = error;
    while (current instanceof Error) {
      process.stderr.write(`${current.stack ?? current.message}\n`);
      current = current.cause;
      if (current !== undefined) process.stderr.write('caused by: ');
    }
  }
}

/**
 * Writes `message` to stderr and exits with 130 (128 + SIGINT) when the user presses Ctrl-C, so an
 * interrupted command says what to do next instead of stopping silently.
 */
export function explainInterrupt(message: string): void {
  process.once('SIGINT', () => {
    process.stderr.write(`\nocidrop: interrupted: ${message}\n`);
    process.exit(130);
  });
}

/** Time in milliseconds that {@link abortOnInterrupt} gives the cleanup before it exits anyway. */
export const INTERRUPT_CLEANUP_MS = 2000;

/** An abort signal tied to SIGINT and SIGTERM, from {@link abortOnInterrupt}. */
export interface InterruptHandler {
  /** Aborts on the first SIGINT or SIGTERM. */
  signal: AbortSignal;
  /** Writes the message and exits with 130 or 143 when a signal has arrived; returns otherwise. */
  exitIfInterrupted(): void;
  /** Removes the signal listeners and the cleanup deadline; a command that finished despite a signal exits normally. */
  dispose(): void;
}

// The signals that stop a command, with their numbers, which are the same on Linux and macOS.
const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
const INTERRUPTS = Object.keys(SIGNAL_NUMBERS) as (keyof typeof SIGNAL_NUMBERS)[];

/**
 * Aborts the returned signal on SIGINT (Ctrl-C), SIGTERM or SIGHUP (a closed terminal), so that the command can clean up, such
 * as deleting its upload sessions. Once the command has stopped it calls
 * {@link InterruptHandler.exitIfInterrupted}, which writes `message` to stderr and exits with
 * 128 + the signal number (130, 143 or 129). When the cleanup takes longer than
 * {@link INTERRUPT_CLEANUP_MS}, or a second signal arrives, the process exits at once the same way.
 */
export function abortOnInterrupt(message: string): InterruptHandler {
  const controller = new AbortController();
  let received: keyof typeof SIGNAL_NUMBERS | undefined;
  let exited = false;
  let deadline: NodeJS.Timeout | undefined;

  const exit = (): void => {
    if (exited || received === undefined) return;
    exited = true;
    const what = received === 'SIGINT' ? 'interrupted' : 'terminated';
    process.stderr.write(`\nocidrop: ${what}: ${message}\n`);
    process.exit(128 + SIGNAL_NUMBERS[received]);
  };
  const onSignal = (signal: keyof typeof SIGNAL_NUMBERS): void => {
    if (received !== undefined) {
      exit();
      return;
    }
    received = signal;
    controller.abort(new Error(`${signal} received`));
    deadline = setTimeout(exit, INTERRUPT_CLEANUP_MS);
  };
  for (const signal of INTERRUPTS) process.on(signal, onSignal);

  return {
    signal: controller.signal,
    exitIfInterrupted: exit,
    dispose() {
      clearTimeout(deadline);
      for (const signal of INTERRUPTS) process.off(signal, onSignal);
    },
  };
}

/** Fields that Node sets on the errors of system calls (`fs`, `net`). */
interface SystemErrorFields {
  code?: unknown;
  syscall?: unknown;
  path?: unknown;
  dest?: unknown;
  address?: unknown;
  port?: unknown;
}

/**
 * Turns the error of a failed system call (Node's `code`, such as `EADDRINUSE` or `ENOENT`) into a
 * sentence that keeps the path or address and says what to do. Returns undefined for other errors.
 */
export function describeSystemError(error: unknown): string | undefined {
  if (!(error instanceof Error) || error instanceof OcidropError) return undefined;
  const fields = error as Error & SystemErrorFields;
  if (typeof fields.code !== 'string') return undefined;
  const { code, syscall } = fields;

  if (syscall === 'listen' || syscall === 'bind') {
    const address = typeof fields.address === 'string' ? fields.address : 'this address';
    const port = typeof fields.port === 'number' ? String(fields.port) : 'this port';
    switch (code) {
      case 'EADDRINUSE':
        return `port ${port} on ${address} is in use by another program: stop it, or pass another --port (--port 0 picks a free one)`;
      case 'EADDRNOTAVAIL':
        return `address ${address} is not on this machine: pass a --host that one of its network interfaces has, such as 127.0.0.1 or 0.0.0.0`;
      case 'EACCES':
        return `permission denied to listen on ${address} port ${port}: ports below 1024 need extra privileges, so pass --port 1024 or above`;
    }
    return undefined;
  }

  if (typeof fields.path !== 'string') return undefined;
  const path = fields.path;
  switch (code) {
    case 'ENOENT':
      return `${path} not found: check the path, or create the folder first`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied on ${path}: change its permissions, or pick a path you may ${syscall === 'open' || syscall === 'scandir' || syscall === 'stat' ? 'read' : 'write'}`;
    case 'ENOTDIR':
      return `${path}: a part of this path is a file, not a folder: pick a path whose parents are folders`;
    case 'EISDIR':
      return `${path} is a folder, not a file: name a file`;
    case 'ENOSPC':
      return `no space left on the device that holds ${path}: free some space, or pick another folder`;
    case 'EROFS':
      return `${path} is on a read-only file system: pick a folder you may write`;
    case 'EEXIST':
      return `${path} already exists: remove it, or pick another path`;
  }
  return undefined;
}
