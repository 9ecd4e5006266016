/**
 * Starts the gateway over the embedded registry's store on 127.0.0.1, so tests push through the
 * registry's HTTP API and read back through the gateway.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGatewayHandler, type GatewayOptions } from '../../src/gateway/handler.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';

/** A registry and a gateway over its store. */
export interface GatewayFixture {
  registry: EmbeddedRegistry;
  /** Base URL of the gateway, such as `http://127.0.0.1:41234`. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Starts the embedded registry (over `dir` when given) and a gateway over its store. */
export async function startGateway(options: GatewayOptions = {}, dir?: string): Promise<GatewayFixture> {
  const registry = await startEmbeddedRegistry(dir);
  const handler = createGatewayHandler(registry.store, options);
  const server = createServer((req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    registry,
    url: `http://127.0.0.1:${port}`,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await registry.close();
    },
  };
}
