/**
 * Raw HTTP for the security tests: requests written byte for byte over a socket, because `fetch`
 * normalizes `..`, rejects control characters and hides what a hostile client can really send.
 */
import { createHash } from 'node:crypto';
import { connect } from 'node:net';

/** A response read off the socket. */
export interface RawResponse {
  status: number;
  /** Header lines as received, lowercase names, in order. */
  headers: [string, string][];
  body: string;
}

/** Returns the first value of header `name`, or undefined. */
export function headerOf(response: RawResponse, name: string): string | undefined {
  return response.headers.find(([key]) => key === name.toLowerCase())?.[1];
}

/**
 * Sends `GET`-style request text to `base` (`http://127.0.0.1:PORT`) with `Connection: close`
 * and reads the whole response. `target` goes on the request line unchanged.
 */
export function rawRequest(
  base: string,
  method: string,
  target: string,
  headers: Record<string, string> = {},
  body = '',
): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  const lines = [`${method} ${target} HTTP/1.1`, `Host: ${hostname}:${port}`, 'Connection: close'];
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (body !== '' || method === 'PUT' || method === 'POST' || method === 'PATCH')
    lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
  const text = `${lines.join('\r\n')}\r\n\r\n${body}`;

  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(10_000, () =>
      socket.destroy(new Error(`no response to ${method} ${target} within 10 s`)),
    );
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => {
      const raw = Buffer.concat(chunks).toString('latin1');
      const end = raw.indexOf('\r\n\r\n');
      const head = (end < 0 ? raw : raw.slice(0, end)).split('\r\n');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(head[0] ?? '')?.[1] ?? 0);
      const parsed: [string, string][] = head.slice(1).map((line) => {
        const colon = line.indexOf(':');
        return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
      });
      resolve({ status, headers: parsed, body: end < 0 ? '' : raw.slice(end + 4) });
    });
    // Written without a half-close, because the server may drop a request whose socket ended early.
    socket.write(text);
  });
}

/** Returns `sha256:<hex>` of `data`. */
export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Returns an HTTP Basic `Authorization` value. */
export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** Returns an htpasswd `{SHA}` line, as `htpasswd -s` writes it. */
export function shaLine(user: string, password: string): string {
  return `${user}:{SHA}${createHash('sha1').update(password).digest('base64')}`;
}
