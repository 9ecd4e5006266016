import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type Browser, chromium } from 'playwright-core';
import { RegistryClient } from '../../src/client/registry-client.js';
import { RemoteSource } from '../../src/client/remote-source.js';
import { createGatewayHandler } from '../../src/gateway/handler.js';
import { type RunningDistribution, startDistribution } from '../helpers/distribution.js';
import { FIXTURES } from '../helpers/fixtures.js';
import { skipUnless } from '../helpers/tools.js';
import { type PublishedFiles, publishFixtures, useCredentials } from './publish.js';
import { type GatewayFixture, startGateway } from './server.js';

const skip = skipUnless('chromium', 'docker-registry', 'htpasswd');
const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';
const SCREENSHOT = join(FIXTURES, '..', '..', 'docs', 'images', 'gateway.png');

const AGENTS = [
  {
    name: 'Windows',
    agent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    platform: 'windows/amd64',
    file: 'hello.exe',
  },
  {
    name: 'macOS',
    agent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15',
    // Safari hides the CPU, so the page offers the build every Mac runs.
    platform: 'darwin/amd64',
    file: 'hello',
  },
  {
    name: 'Linux',
    agent: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
    platform: 'linux/amd64',
    file: 'hello',
  },
] as const;

let gateway: GatewayFixture;
let files: PublishedFiles;
let distribution: RunningDistribution;
let client: RegistryClient;
let remoteServer: Server;
let remoteFiles: PublishedFiles;
/** The gateway over the embedded registry, and the gateway over Distribution with credentials only it has. */
const targets: { name: string; url: string; files: () => PublishedFiles }[] = [];
let browser: Browser;
let shots: string;

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

before(async () => {
  if (skip) return;
  // A fixed public URL keeps the commands in the README screenshot the same from run to run.
  gateway = await startGateway({ publicUrl: 'https://get.example.com' });
  files = await publishFixtures(gateway.registry.url, 'hello');
  targets.push({ name: 'the embedded registry', url: gateway.url, files: () => files });

  const { stdout } = await run('htpasswd', ['-nbB', 'bot', 'gateway-secret']);
  distribution = await startDistribution({ htpasswd: stdout });
  useCredentials(distribution.url, 'bot', 'gateway-secret');
  remoteFiles = await publishFixtures(distribution.url, 'hello');
  client = new RegistryClient(distribution.host, {
    credentials: async () => ({ username: 'bot', password: 'gateway-secret' }),
    retries: 0,
  });
  const handler = createGatewayHandler(new RemoteSource(client));
  remoteServer = createServer((req, res) => {
    void handler(req, res);
  });
  await new Promise<void>((resolve) => remoteServer.listen(0, '127.0.0.1', resolve));
  targets.push({
    name: 'CNCF Distribution',
    url: `http://127.0.0.1:${(remoteServer.address() as AddressInfo).port}`,
    files: () => remoteFiles,
  });
  shots = await mkdtemp(join(tmpdir(), 'ocidrop-browser-'));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  await gateway?.close();
  if (remoteServer) {
    remoteServer.closeAllConnections();
    await new Promise<void>((resolve) => remoteServer.close(() => resolve()));
  }
  await client?.close();
  await distribution?.close();
  if (shots) await rm(shots, { recursive: true, force: true });
});

describe('download page in Chromium', { skip }, () => {
  for (const entry of AGENTS) {
    it(`${entry.name} visitor downloads the right build`, async (t) => {
      for (const target of targets) {
        await t.test(`through ${target.name}`, () => downloadWithButton(entry, target));
      }
    });
  }

  async function downloadWithButton(
    entry: (typeof AGENTS)[number],
    target: (typeof targets)[number],
  ): Promise<void> {
    const context = await browser.newContext({
      userAgent: entry.agent,
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
    try {
      const page = await context.newPage();
      const response = await page.goto(`${target.url}/hello`);
      assert.equal(response?.status(), 200);
      const button = page.locator('a.button').first();
      assert.match(
        (await button.getAttribute('href')) ?? '',
        new RegExp(`os=${entry.platform.split('/')[0]}`),
      );

      const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
      assert.equal(download.suggestedFilename(), entry.file);
      const saved = join(shots, `${entry.name}-${target.name}-${entry.file}`);
      await download.saveAs(saved);
      const expected = target.files()['1.1.0']![entry.platform]![entry.file]!;
      assert.equal(sha256(await readFile(saved)), sha256(expected));

      const shot = await page.screenshot({
        path: join(shots, `${entry.name}-${target.name}.png`),
        fullPage: true,
      });
      assert.ok(shot.length > 1000, 'the screenshot has content');
    } finally {
      await context.close();
    }
  }

  it('page has no accessibility violations', async () => {
    // The page's CSP forbids inline scripts, so the injected axe-core needs CSP bypassed.
    const context = await browser.newContext({ userAgent: AGENTS[2].agent, bypassCSP: true });
    try {
      const page = await context.newPage();
      await page.goto(`${gateway.url}/hello`);
      const axeSource = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
      await page.addScriptTag({ content: axeSource });
      const violations = await page.evaluate(async () => {
        const axe = (
          globalThis as unknown as { axe: { run(): Promise<{ violations: { id: string; help: string }[] }> } }
        ).axe;
        const result = await axe.run();
        return result.violations.map((violation) => `${violation.id}: ${violation.help}`);
      });
      assert.deepEqual(violations, []);
    } finally {
      await context.close();
    }
  });

  it('saves the README screenshot', async () => {
    const context = await browser.newContext({
      userAgent: AGENTS[2].agent,
      viewport: { width: 1280, height: 800 },
      deviceScaleFactor: 1,
    });
    try {
      const page = await context.newPage();
      await page.goto(`${gateway.url}/hello/1.1.0`);
      assert.match((await page.locator('.notes').textContent()) ?? '', /hello 1\.1\.0/);
      await mkdir(join(SCREENSHOT, '..'), { recursive: true });
      await page.screenshot({ path: SCREENSHOT });
      const png = await readFile(SCREENSHOT);
      assert.equal(png.subarray(1, 4).toString('latin1'), 'PNG');
    } finally {
      await context.close();
    }
  });
});
