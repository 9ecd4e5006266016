/**
 * The `serve` command: the embedded OCI registry and the download gateway in one process.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { pino } from 'pino';
import { defaultDataDir } from '../serve/paths.js';
import { startServer } from '../serve/server.js';

/** Registers `ocidrop serve [--data DIR] [--host HOST] [--port PORT]` on `program`. */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the embedded OCI registry (at /v2/) and the download gateway (every other path)')
    .option('--data <dir>', 'folder that stores the registry content', defaultDataDir())
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on; 0 picks a free port', parsePort, 5000)
    .option('--log-level <level>', 'log level of the JSON log on stderr: error, warn, info or debug', 'info')
    .action(async (options: { data: string; host: string; port: number; logLevel: string }) => {
      const logger = pino({ name: 'ocidrop', level: options.logLevel }, pino.destination(2));
      const running = await startServer({ dataDir: options.data, host: options.host, port: options.port, logger });
      process.stdout.write(
        `ocidrop serve: registry and download gateway at ${running.url}\n` +
          `  data:  ${options.data}\n` +
          `  push:  ocidrop push ${running.registryHost}/hello:1.0.0 dist/*/hello*\n` +
          `  share: ${running.url}/hello\n`,
      );
      const stop = (signal: NodeJS.Signals): void => {
        logger.info({ signal }, 'shutting down');
        running.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port > 65535) {
    throw new InvalidArgumentError(`invalid port ${JSON.stringify(value)}: use a number from 0 to 65535 (0 picks a free port)`);
  }
  return port;
}
