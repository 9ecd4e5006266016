/**
 * Cases 3 and 4: serving. Case 3 fetches a large blob with `curl` from the embedded registry, through
 * the gateway, from Distribution and from nginx, then runs many concurrent downloads. Case 4 measures
 * requests per second (`wrk`) for manifests and gateway pages.
 *
 * Each server is started once per case and filled by `ocidrop push` before the rounds begin.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { curlGet, ocidropPush } from '../lib/commands.js';
import { type GeneratedFile, writeRandomFile } from '../lib/data.js';
import { runTimed } from '../lib/measure.js';
import { type RunningServer, startDistribution, startNginx, startOcidrop } from '../lib/servers.js';
import {
  alternate,
  type CaseContext,
  type CaseResult,
  type Row,
  row,
  type Step,
  skip,
} from '../lib/suite.js';
import { measure, measureWithOutput } from './transfer.js';

const MIB = 1024 * 1024;

/** Accept header of a registry client that takes an OCI index or manifest. */
const MANIFEST_ACCEPT =
  'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json';

/** Case 3: one large blob GET per contender, then concurrent downloads. */
export async function runServing(context: CaseContext): Promise<CaseResult> {
  const size = (context.quick ? 256 : 1024) * MIB;
  const concurrency = 200;
  const eachSize = (context.quick ? 8 : 100) * MIB;
  context.log(`case 3: writing ${size / MIB} MiB and ${eachSize / MIB} MiB of random data`);
  const webRoot = join(context.scratch, 'www');
  await mkdir(webRoot);
  const large = await writeRandomFile(join(webRoot, 'large.bin'), size, true);
  const shared = await writeRandomFile(join(webRoot, 'shared.bin'), eachSize, true);

  const single = {
    embedded: row('embedded registry, GET /v2/…/blobs/DIGEST', 'ocidrop', size),
    gateway: row('gateway, GET /REPO/latest/download (redirects followed)', 'ocidrop', size),
    distribution: row('Distribution, GET /v2/…/blobs/DIGEST', 'peer', size),
    nginx: row('nginx, GET /large.bin', 'peer', size),
  };
  const total = concurrency * eachSize;
  const parallel = {
    gateway: row(`gateway, ${concurrency} concurrent downloads`, 'ocidrop', total),
    embedded: row(`embedded registry, ${concurrency} concurrent blob GETs`, 'ocidrop', total),
    nginx: row(`nginx, ${concurrency} concurrent GETs`, 'peer', total),
  };
  const result: CaseResult = {
    id: 'serving',
    title: `3. Serving a ${size / MIB} MiB blob, and ${concurrency} concurrent downloads of ${eachSize / MIB} MiB`,
    script: 'bench/cases/serving.sh',
    settings: `one GET of ${size / MIB} MiB per run; ${concurrency} concurrent GETs of one ${eachSize / MIB} MiB file (curl --parallel)`,
    tables: [
      { title: `GET of ${size / MIB} MiB`, kind: 'time', rows: Object.values(single) },
      {
        title: `${concurrency} concurrent GETs of ${eachSize / MIB} MiB`,
        kind: 'time',
        rows: Object.values(parallel),
      },
    ],
    notes: [
      'The client is curl writing to /dev/null, one process for one GET, `curl --parallel` for the concurrent GETs; client RSS is curl’s.',
      'nginx runs as one process (`master_process off`, `sendfile on`), so its RSS compares with one ocidrop or Distribution process.',
    ],
  };

  if (context.tools.curl.path === undefined) {
    skip(
      [...Object.values(single), ...Object.values(parallel)],
      'skipped: curl is missing (apt-get install curl)',
    );
    return result;
  }
  const servers = await startServers(context, [large, shared], webRoot, {
    ocidrop: [single.embedded, single.gateway, parallel.gateway, parallel.embedded],
    distribution: [single.distribution],
    nginx: [single.nginx, parallel.nginx],
  });
  try {
    const { ocidrop, distribution, nginx } = servers;
    const largeDigest = large.digest;
    const get = (target: Row, server: RunningServer | undefined, url: () => string): Step => ({
      rows: [target],
      run: async () => {
        const sample = await measure(context, server!, curlGet(url()));
        target.samples.push(sample);
      },
    });
    const steps: Step[] = [];
    if (ocidrop !== undefined) {
      steps.push(get(single.embedded, ocidrop, () => `${ocidrop.url}/v2/bench/large/blobs/${largeDigest}`));
      steps.push(
        get(single.gateway, ocidrop, () => `${ocidrop.url}/bench/large/latest/download?os=linux&arch=amd64`),
      );
    }
    if (distribution !== undefined) {
      steps.push(
        get(
          single.distribution,
          distribution,
          () => `${distribution.url}/v2/bench/large/blobs/${largeDigest}`,
        ),
      );
    }
    if (nginx !== undefined) steps.push(get(single.nginx, nginx, () => `${nginx.url}/large.bin`));
    await alternate(context.rounds, steps, context.log);

    const many = (target: Row, server: RunningServer | undefined, url: () => string): Step => ({
      rows: [target],
      run: async (round) => {
        const config = join(context.scratch, `parallel-${round}.curlrc`);
        const entry = `url = "${url()}"\noutput = "/dev/null"\n`;
        await writeFile(config, entry.repeat(concurrency));
        const argv = [
          'curl',
          '--silent',
          '--show-error',
          '--fail',
          '--location',
          '--parallel',
          '--parallel-immediate',
        ];
        argv.push('--parallel-max', String(concurrency), '--config', config);
        target.samples.push(await measure(context, server!, argv));
      },
    });
    const parallelSteps: Step[] = [];
    if (ocidrop !== undefined) {
      parallelSteps.push(
        many(
          parallel.gateway,
          ocidrop,
          () => `${ocidrop.url}/bench/shared/latest/download?os=linux&arch=amd64`,
        ),
      );
      parallelSteps.push(
        many(parallel.embedded, ocidrop, () => `${ocidrop.url}/v2/bench/shared/blobs/${shared.digest}`),
      );
    }
    if (nginx !== undefined) parallelSteps.push(many(parallel.nginx, nginx, () => `${nginx.url}/shared.bin`));
    await alternate(context.rounds, parallelSteps, context.log);
  } finally {
    await servers.close();
  }
  return result;
}

/** Case 4: requests per second with wrk. */
export async function runRequests(context: CaseContext): Promise<CaseResult> {
  const seconds = context.quick ? 3 : 10;
  const connections = 50;
  const webRoot = join(context.scratch, 'www');
  await mkdir(webRoot);
  const program = await writeRandomFile(join(webRoot, 'hello'), MIB, true);
  await writeFile(
    join(webRoot, 'small.json'),
    JSON.stringify({ name: 'hello', version: '1.0.0', note: 'x'.repeat(300) }),
  );

  const manifests = {
    embedded: row('embedded registry, GET /v2/bench/hello/manifests/1.0.0', 'ocidrop', 0),
    distribution: row('Distribution, GET /v2/bench/hello/manifests/1.0.0', 'peer', 0),
  };
  const gateway = {
    page: row('gateway, GET /bench/hello', 'ocidrop', 0),
    json: row('gateway, GET /bench/hello/latest.json', 'ocidrop', 0),
    redirect: row('gateway, GET /bench/hello/latest/download (the redirect)', 'ocidrop', 0),
  };
  const nginxRow = row('limit: nginx, GET of a small static file', 'limit', 0);
  const result: CaseResult = {
    id: 'requests',
    title: '4. Requests per second',
    script: 'bench/cases/requests.sh',
    settings: `wrk, 2 threads, ${connections} keep-alive connections, ${seconds} s per run`,
    tables: [
      { title: 'manifest GET by tag', kind: 'rate', rows: [...Object.values(manifests), nginxRow] },
      { title: 'gateway pages', kind: 'rate', rows: [...Object.values(gateway), nginxRow] },
    ],
    notes: [
      'wrk runs on the same 2 cores as the server, so every figure is a lower bound of what the server alone could do.',
      'A run with any non-2xx/3xx response counts as failed.',
    ],
  };
  const every = [...Object.values(manifests), ...Object.values(gateway), nginxRow];
  if (context.tools.wrk.path === undefined) {
    skip(every, 'skipped: wrk is missing (apt-get install wrk)');
    return result;
  }

  const servers = await startServers(
    context,
    [program],
    webRoot,
    {
      ocidrop: [manifests.embedded, ...Object.values(gateway)],
      distribution: [manifests.distribution],
      nginx: [nginxRow],
    },
    'hello',
  );
  try {
    const { ocidrop, distribution, nginx } = servers;
    const wrk = (
      target: Row,
      server: RunningServer | undefined,
      path: string,
      headers: string[] = [],
    ): Step => ({
      rows: [target],
      run: async () => {
        const argv = ['wrk', '-t2', `-c${connections}`, `-d${seconds}s`];
        for (const header of headers) argv.push('-H', header);
        argv.push(`${server!.url}${path}`);
        const { sample, stdout } = await measureWithOutput(context, server!, argv);
        const rate = /Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1];
        if (rate === undefined) throw new Error(`wrk printed no Requests/sec for ${path}: ${stdout.trim()}`);
        if (/Non-2xx or 3xx responses/.test(stdout)) {
          throw new Error(`wrk got non-2xx/3xx responses from ${path}: ${stdout.trim()}`);
        }
        target.samples.push({ ...sample, requestsPerSecond: Number(rate) });
      },
    });
    const manifestSteps: Step[] = [];
    if (ocidrop !== undefined)
      manifestSteps.push(
        wrk(manifests.embedded, ocidrop, '/v2/bench/hello/manifests/1.0.0', [MANIFEST_ACCEPT]),
      );
    if (distribution !== undefined) {
      manifestSteps.push(
        wrk(manifests.distribution, distribution, '/v2/bench/hello/manifests/1.0.0', [MANIFEST_ACCEPT]),
      );
    }
    if (nginx !== undefined) manifestSteps.push(wrk(nginxRow, nginx, '/small.json'));
    await alternate(context.rounds, manifestSteps, context.log);

    const gatewaySteps: Step[] = [];
    if (ocidrop !== undefined) {
      gatewaySteps.push(wrk(gateway.page, ocidrop, '/bench/hello'));
      gatewaySteps.push(wrk(gateway.json, ocidrop, '/bench/hello/latest.json'));
      gatewaySteps.push(wrk(gateway.redirect, ocidrop, '/bench/hello/latest/download?os=linux&arch=amd64'));
    }
    await alternate(context.rounds, gatewaySteps, context.log);
  } finally {
    await servers.close();
  }
  return result;
}

interface Servers {
  ocidrop: RunningServer | undefined;
  distribution: RunningServer | undefined;
  nginx: RunningServer | undefined;
  close(): Promise<void>;
}

/** The rows that depend on each server, marked skipped or failed when it cannot run. */
interface RowsByServer {
  ocidrop: Row[];
  distribution: Row[];
  nginx: Row[];
}

/**
 * Starts the embedded registry, Distribution and nginx (those available), pushes each file with
 * ocidrop to both registries and serves `webRoot` with nginx. Each file goes to `bench/<repository>`,
 * where the repository is `name` or else the file's name without `.bin`.
 */
async function startServers(
  context: CaseContext,
  files: GeneratedFile[],
  webRoot: string,
  rows: RowsByServer,
  name?: string,
): Promise<Servers> {
  const started: RunningServer[] = [];
  const fill = async (server: RunningServer): Promise<void> => {
    for (const file of files) {
      const repository = `bench/${
        name ??
        file.path
          .split('/')
          .pop()!
          .replace(/\.bin$/, '')
      }`;
      await runTimed(ocidropPush(context, server.host, `${repository}:1.0.0`, [file.path]), {
        scratchDir: context.scratch,
      });
    }
  };
  const attempt = async (
    target: Row[],
    start: () => Promise<RunningServer>,
    filled: boolean,
  ): Promise<RunningServer | undefined> => {
    try {
      const server = await start();
      started.push(server);
      if (filled) await fill(server);
      return server;
    } catch (error) {
      skip(target, `failed: ${(error as Error).message.slice(0, 300)}`);
      return undefined;
    }
  };

  let ocidrop: RunningServer | undefined;
  let distribution: RunningServer | undefined;
  let nginx: RunningServer | undefined;
  const distributionBinary = context.tools['docker-registry'].path;
  if (context.ocidropMissing !== undefined) {
    skip(rows.ocidrop, `skipped: ${context.ocidropMissing}`);
    skip(rows.distribution, `skipped: filling Distribution needs ocidrop push (${context.ocidropMissing})`);
  } else {
    ocidrop = await attempt(rows.ocidrop, () => startOcidrop({ cli: context.cli }), true);
    if (distributionBinary === undefined) {
      skip(rows.distribution, 'skipped: docker-registry is missing (apt-get install docker-registry)');
    } else {
      distribution = await attempt(rows.distribution, () => startDistribution(distributionBinary), true);
    }
  }
  const nginxBinary = context.tools.nginx.path;
  if (nginxBinary === undefined) {
    skip(rows.nginx, 'skipped: nginx is missing (apt-get install nginx-light)');
  } else {
    nginx = await attempt(rows.nginx, () => startNginx(nginxBinary, webRoot), false);
  }
  return {
    ocidrop,
    distribution,
    nginx,
    async close() {
      for (const server of started) await server.close();
    },
  };
}
