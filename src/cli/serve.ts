/**
 * The `serve` command: the embedded OCI registry and the download gateway in one process, or the
 * gateway alone in front of remote registries.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { loadConfig } from '../serve/config.js';
import { defaultDataDir } from '../serve/paths.js';
import { startServer } from '../serve/server.js';

/**
 * Registers `ocidrop serve [--config FILE] [--no-registry] [--data DIR] [--host HOST] [--port PORT]
 * [--htpasswd FILE] [--read-only] [--allow-anonymous-push] [--token-auth]` on `program`. An access
 * flag wins over the same setting in the configuration file.
 */
export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the embedded OCI registry (at /v2/) and the download gateway (every other path)')
    .option(
      '--config <file>',
      'YAML or JSON configuration: remote registries, exposed and private repositories, signing keys (see docs/GATEWAY.md)',
    )
    .option(
      '--no-registry',
      'run the gateway alone, in front of the remote registries of --config, without the embedded registry',
    )
    .option(
      '--data <dir>',
      'folder that stores the registry content and the link signing key',
      defaultDataDir(),
    )
    .option(
      '--host <host>',
      'address to listen on; on a non-loopback address pushes need --htpasswd, --read-only or --allow-anonymous-push',
      '127.0.0.1',
    )
    .option('--port <port>', 'port to listen on; 0 picks a free port', parsePort, 5000)
    .option(
      '--htpasswd <file>',
      'htpasswd file (htpasswd -B) of the users who may push, delete and open private repositories; overrides users.htpasswd',
    )
    .option(
      '--read-only',
      'reject every push and delete to the embedded registry; overrides registry.readOnly',
    )
    .option(
      '--allow-anonymous-push',
      'let anyone push and delete on a non-loopback address; overrides registry.allowAnonymousPush',
    )
    .option(
      '--token-auth',
      'authenticate registry clients with the Docker token flow at /v2/token instead of HTTP Basic (needs users); overrides registry.token',
    )
    .option(
      '--verify-blobs',
      'hash every gateway download of a stored blob to catch files changed on disk, at about a third of the speed (as verifyBlobs: true); registry GETs are not hashed, and pull checks digests itself',
    )
    .option('--log-level <level>', 'log level of the JSON log on stderr: error, warn, info or debug', 'info')
    .action(
      async (options: {
        config?: string;
        registry: boolean;
        data: string;
        host: string;
        port: number;
        logLevel: string;
        htpasswd?: string;
        readOnly?: boolean;
        allowAnonymousPush?: boolean;
        tokenAuth?: boolean;
        verifyBlobs?: boolean;
      }) => {
        const config = options.config === undefined ? undefined : await loadConfig(options.config);
        // Synchronous writes keep the lines in the order they were logged up to process.exit. With
        // asynchronous ones, the exit handler writes the buffered `stopped` while the write of
        // `shutting down` is still in flight, so the two lines came out swapped.
        const logger = pino(
          { name: 'ocidrop', level: options.logLevel },
          pino.destination({ dest: 2, sync: true }),
        );
        const running = await startServer({
          dataDir: options.data,
          host: options.host,
          port: options.port,
          logger,
          ...(config === undefined ? {} : { config }),
          // Without the flag the configuration decides; `--no-registry` always turns the registry off.
          ...(options.registry ? {} : { registry: false }),
          ...(options.verifyBlobs ? { verifyBlobs: true } : {}),
          access: {
            ...(options.htpasswd === undefined ? {} : { htpasswd: options.htpasswd }),
            ...(options.readOnly ? { readOnly: true } : {}),
            ...(options.allowAnonymousPush ? { allowAnonymousPush: true } : {}),
            ...(options.tokenAuth ? { tokenAuth: true } : {}),
          },
        });
        const shown = config?.publicUrl ?? running.url;
        const lines = [
          `ocidrop serve: ${running.store ? 'registry and download gateway' : 'download gateway'} at ${running.url}`,
        ];
        if (running.store) {
          lines.push(
            `  data:  ${options.data}`,
            `  push:  ocidrop push ${running.registryHost}/hello:1.0.0 dist/*/hello*`,
          );
        }
        lines.push(
          `  share: ${shown}/hello`,
          `  link:  ocidrop link hello:1.0.0 --expires 24h${options.config ? ` --config ${options.config}` : ''}`,
        );
        process.stdout.write(`${lines.join('\n')}\n`);
        // The server logs `shutting down` and then `stopped`, so both lines come from one place in order.
        const stop = (signal: NodeJS.Signals): void => {
          running.close(signal).then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      },
    );
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d{1,5}$/.test(value) || port > 65535) {
    throw new InvalidArgumentError(
      `invalid port ${JSON.stringify(value)}: use a number from 0 to 65535 (0 picks a free port)`,
    );
  }
  return port;
}
