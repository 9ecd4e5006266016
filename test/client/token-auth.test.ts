import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Credentials } from '../../src/client/credentials.js';
import { RegistryResponseError } from '../../src/client/errors.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { RemoteSource } from '../../src/client/remote-source.js';
import { digestOf } from '../../src/oci/digest.js';
import { RegistryError } from '../../src/oci/errors.js';

type Handler = (request: IncomingMessage, response: ServerResponse, body: string) => void;

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  body: string;
}

async function listen(handler: Handler): Promise<{ server: Server; host: string; requests: Recorded[] }> {
  const requests: Recorded[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      requests.push({
        method: request.method!,
        url: request.url!,
        authorization: request.headers.authorization,
        body,
      });
      handler(request, response, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

function json(
  response: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(value);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  response.end(body);
}

const BLOB = Buffer.from('blob content from storage\n');
const BLOB_DIGEST = digestOf(BLOB);
const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('RegistryClient with a token server', () => {
  let tokens: Awaited<ReturnType<typeof listen>>;
  let storage: Awaited<ReturnType<typeof listen>>;
  let registry: Awaited<ReturnType<typeof listen>>;
  const asked: string[] = [];

  before(async () => {
    tokens = await listen((request, response, body) => {
      const url = new URL(request.url!, 'http://token');
      if (request.method === 'GET' && request.headers.authorization === basic('alice', 'pw')) {
        json(response, 200, { token: `token-for-${url.searchParams.getAll('scope').join('+')}` });
      } else if (
        request.method === 'POST' &&
        new URLSearchParams(body).get('refresh_token') === 'refresh-1'
      ) {
        json(response, 200, { access_token: 'token-from-refresh' });
      } else {
        json(response, 401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
      }
    });
    storage = await listen((request, response) => {
      if (request.url === '/bucket/blob') {
        response.writeHead(200, { 'content-length': BLOB.byteLength });
        response.end(BLOB);
      } else {
        json(response, 500, { errors: [{ code: 'UNEXPECTED', message: request.url }] });
      }
    });
    registry = await listen((request, response) => {
      const authorization = request.headers.authorization ?? '';
      if (!authorization.startsWith('Bearer ')) {
        const scope = request.url!.includes('_catalog') ? 'registry:catalog:*' : 'repository:hello:pull';
        json(
          response,
          401,
          { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] },
          {
            'www-authenticate': `Bearer realm="http://${tokens.host}/token",service="test-registry",scope="${scope}"`,
          },
        );
        return;
      }
      const url = new URL(request.url!, 'http://registry');
      if (url.pathname === '/v2/hello/tags/list') {
        if (url.searchParams.get('last') === null) {
          json(
            response,
            200,
            { name: 'hello', tags: ['1.0.0'] },
            { link: '</v2/hello/tags/list?last=1.0.0&n=1>; rel="next"' },
          );
        } else {
          json(response, 200, { name: 'hello', tags: ['1.1.0'] });
        }
      } else if (url.pathname === `/v2/hello/blobs/${BLOB_DIGEST}`) {
        response.writeHead(307, { location: `http://${storage.host}/bucket/blob`, 'content-length': 0 });
        response.end();
      } else if (url.pathname === '/v2/hello/manifests/missing') {
        json(response, 404, { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] });
      } else {
        json(response, 500, { errors: [{ code: 'UNEXPECTED', message: request.url }] });
      }
    });
  });

  after(async () => {
    for (const running of [tokens, storage, registry]) {
      running?.server.closeAllConnections();
      running?.server.close();
    }
  });

  const resolver = (credentials: Credentials) => async (host: string) => {
    asked.push(host);
    return host === registry.host ? credentials : undefined;
  };

  it('fetches a token and follows tag pages', async () => {
    const client = new RegistryClient(registry.host, {
      credentials: resolver({ username: 'alice', password: 'pw' }),
    });
    try {
      assert.deepEqual(await client.tags('hello'), ['1.0.0', '1.1.0']);
    } finally {
      await client.close();
    }
    const tokenRequest = tokens.requests.at(-1)!;
    assert.equal(tokenRequest.authorization, basic('alice', 'pw'));
    assert.match(tokenRequest.url, /service=test-registry/);
    assert.match(tokenRequest.url, /scope=repository%3Ahello%3Apull/);
    const authorized = registry.requests.filter((request) => request.authorization !== undefined);
    assert.ok(authorized.length >= 2);
    assert.ok(
      authorized.every((request) => request.authorization === 'Bearer token-for-repository:hello:pull'),
    );
    assert.ok(
      asked.every((host) => host === registry.host),
      'credentials are looked up by the registry host only',
    );
  });

  it('sends no Authorization to a redirect target', async () => {
    const client = new RegistryClient(registry.host, {
      credentials: resolver({ username: 'alice', password: 'pw' }),
    });
    try {
      const reader = await client.getBlob('hello', BLOB_DIGEST);
      const chunks: Buffer[] = [];
      for await (const chunk of reader.stream) chunks.push(chunk as Buffer);
      assert.deepEqual(Buffer.concat(chunks), BLOB);
      assert.equal(reader.size, BLOB.byteLength);
    } finally {
      await client.close();
    }
    assert.equal(storage.requests.length, 1);
    assert.equal(storage.requests[0]?.authorization, undefined);
  });

  it('trades an identity token for an access token', async () => {
    const client = new RegistryClient(registry.host, {
      credentials: resolver({ identityToken: 'refresh-1' }),
    });
    try {
      assert.deepEqual(await client.tags('hello'), ['1.0.0', '1.1.0']);
    } finally {
      await client.close();
    }
    const form = new URLSearchParams(tokens.requests.at(-1)!.body);
    assert.equal(form.get('grant_type'), 'refresh_token');
    assert.equal(form.get('service'), 'test-registry');
    assert.equal(form.get('scope'), 'repository:hello:pull');
    assert.equal(registry.requests.at(-1)?.authorization, 'Bearer token-from-refresh');
  });

  it('reports a token server rejection', async () => {
    const client = new RegistryClient(registry.host, {
      credentials: resolver({ username: 'alice', password: 'nope' }),
    });
    try {
      await assert.rejects(client.tags('hello'), (error: unknown) => {
        assert.ok(error instanceof RegistryResponseError);
        assert.equal(error.status, 401);
        assert.equal(error.code, 'ERR_REGISTRY_RESPONSE');
        assert.deepEqual(error.errors, [{ code: 'UNAUTHORIZED', message: 'bad credentials' }]);
        assert.match(error.message, /token server rejected the credentials/);
        assert.doesNotMatch(error.message, /nope/);
        return true;
      });
    } finally {
      await client.close();
    }
  });

  it('maps a missing manifest to MANIFEST_UNKNOWN in RemoteSource', async () => {
    const client = new RegistryClient(registry.host, {
      credentials: resolver({ username: 'alice', password: 'pw' }),
    });
    try {
      await assert.rejects(new RemoteSource(client).manifest('hello', 'missing'), (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.equal(error.code, 'MANIFEST_UNKNOWN');
        assert.equal(error.status, 404);
        return true;
      });
    } finally {
      await client.close();
    }
  });
});

describe('RegistryClient connection errors', () => {
  it('names the URL and the reason', async () => {
    const { server, host } = await listen(() => {});
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const client = new RegistryClient(host);
    try {
      await assert.rejects(client.ping(), (error: unknown) => {
        assert.equal((error as Error).name, 'RegistryConnectionError');
        assert.equal((error as { code: string }).code, 'ERR_REGISTRY_CONNECTION');
        assert.match(
          (error as Error).message,
          new RegExp(
            `GET http://${host}/v2/ failed: .*ECONNREFUSED.*; check that a registry is running at ${host}`,
          ),
        );
        return true;
      });
    } finally {
      await client.close();
    }
  });
});
