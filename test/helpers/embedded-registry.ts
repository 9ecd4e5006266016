/**
 * Starts the embedded registry on 127.0.0.1 with a port the system picks, over a store in a
 * temporary folder unless one is given, so tests can push to and pull from a real registry.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRegistryHandler, type RegistryHandlerOptions } from '../../src/registry/handler.js';
import { FsStore, type FsStoreOptions } from '../../src/storage/fs-store.js';

/** A running embedded registry. */
export interface EmbeddedRegistry {
  /** Base URL, such as `http://127.0.0.1:41234`. */
  url: string;
  /** Host and port, such as `127.0.0.1:41234`, for references. */
  host: string;
  store: FsStore;
  server: Server;
  /** Stops the server and, when the helper created the store folder, removes it. */
  close(): Promise<void>;
}

/**
 * Starts the registry. Paths outside `/v2` get a 404 JSON error, as `ocidrop serve` would send for
 * a path the gateway does not know.
 */
export async function startEmbeddedRegistry(
  dir?: string,
  options: RegistryHandlerOptions & { store?: FsStoreOptions } = {},
): Promise<EmbeddedRegistry> {
  const root = dir ?? (await mkdtemp(join(tmpdir(), 'ocidrop-registry-')));
  const store = await FsStore.open(root, options.store);
  const handler = createRegistryHandler(store, options);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/v2' || path.startsWith('/v2/')) {
      void handler(req, res);
      return;
    }
    req.resume();
    const body = JSON.stringify({ errors: [{ code: 'NOT_FOUND', message: `no route for ${path}` }] });
    res.writeHead(404, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const host = `127.0.0.1:${port}`;
  return {
    url: `http://${host}`,
    host,
    store,
    server,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir === undefined) await rm(root, { recursive: true, force: true });
    },
  };
}
