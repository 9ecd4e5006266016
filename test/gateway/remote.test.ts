import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RegistryClient } from '../../src/client/registry-client.js';
import { RemoteSource } from '../../src/client/remote-source.js';
import { createGatewayHandler } from '../../src/gateway/handler.js';
import { type RunningDistribution, startDistribution } from '../helpers/distribution.js';
import { skipUnless } from '../helpers/tools.js';
import { type PublishedFiles, publishFixtures } from './publish.js';

const LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const skip = skipUnless('docker-registry');

let distribution: RunningDistribution;
let client: RegistryClient;
let server: Server;
let url: string;
let files: PublishedFiles;

before(async () => {
  if (skip) return;
  distribution = await startDistribution();
  files = await publishFixtures(distribution.url, 'tools/hello');
  client = new RegistryClient(distribution.host, { credentials: async () => undefined, retries: 0 });
  const handler = createGatewayHandler(new RemoteSource(client), { cache: { tagTtlMs: 5_000 } });
  server = createServer((req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  if (server) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  await client?.close();
  await distribution?.close();
});

describe('gateway in front of CNCF Distribution', { skip }, () => {
  it('lists the repository', async () => {
    const page = await (await fetch(`${url}/`)).text();
    assert.match(page, /href="\/tools\/hello"/);
  });

  it('serves the Linux build', async () => {
    const response = await fetch(`${url}/tools/hello/latest/download`, { headers: { 'user-agent': LINUX } });
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), files['1.1.0']!['linux/amd64']!['hello']);
  });

  it('serves a range through the registry', async () => {
    const whole = files['1.0.0']!['windows/amd64']!['hello.exe']!;
    const response = await fetch(`${url}/tools/hello/1.0.0/download?os=windows&arch=amd64`, {
      headers: { range: 'bytes=0-1' },
    });
    assert.equal(response.status, 206);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), whole.subarray(0, 2));
  });

  it('names the newest version in latest.json', async () => {
    const body = (await (await fetch(`${url}/tools/hello/latest.json?os=darwin&arch=arm64`)).json()) as {
      version: string;
    };
    assert.equal(body.version, '1.1.0');
  });

  it('answers 404 for an unknown repository', async () => {
    const response = await fetch(`${url}/tools/missing/latest.json`);
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'REPOSITORY_NOT_FOUND');
  });
});
