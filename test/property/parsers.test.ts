/**
 * Generated input for the parsers that read untrusted text: references, digests, media types,
 * manifests, platforms and the gateway's User-Agent detection. Every input either parses into a
 * value that prints back as the same text, or fails with an `OcidropError` subclass. No input may
 * crash a parser with another error type or take longer than a bounded time.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { candidatesFor, detectFromUserAgent, detectPlatform } from '../../src/gateway/detect.js';
import { digestOf, parseDigest } from '../../src/oci/digest.js';
import {
  InvalidDigestError,
  InvalidManifestError,
  InvalidPlatformError,
  InvalidReferenceError,
  OcidropError,
} from '../../src/oci/errors.js';
import { encodeManifest, parseDescriptor, parseManifest } from '../../src/oci/manifest.js';
import { formatPlatform, parsePlatform } from '../../src/oci/platform.js';
import { parseReference } from '../../src/oci/reference.js';

/** Runs per property; each property also stops after its time budget. */
const RUNS = 2000;
const BUDGET_MS = 4000;
/** The slowest a single parse of one generated input may take. */
const MAX_CALL_MS = 50;

const settings = { numRuns: RUNS, interruptAfterTimeLimit: BUDGET_MS, markInterruptAsFailure: false };

/** Calls `parse` and returns its value, or undefined when it threw the expected error type. */
function parseOrTypedError<T>(
  parse: () => T,
  expected: new (...args: never[]) => OcidropError,
): T | undefined {
  const started = performance.now();
  try {
    return parse();
  } catch (error) {
    assert.ok(error instanceof expected, `expected ${expected.name}, got ${String(error)}`);
    assert.ok(error instanceof OcidropError);
    assert.equal(typeof error.code, 'string');
    assert.ok(error.message.length > 0);
    return undefined;
  } finally {
    const elapsed = performance.now() - started;
    assert.ok(elapsed < MAX_CALL_MS, `one parse took ${elapsed.toFixed(1)} ms`);
  }
}

// Text that mixes the characters parsers split on with arbitrary Unicode and control characters.
const SEPARATORS = [
  '/',
  ':',
  '@',
  '.',
  '_',
  '-',
  '..',
  '%2e',
  '%2f',
  '\\',
  '\r\n',
  '\0',
  ' ',
  '\u2028',
  'sha256',
  '+',
];
const text = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc
    .array(fc.oneof(fc.constantFrom(...SEPARATORS), fc.string({ maxLength: 6 })), { maxLength: 16 })
    .map((parts) => parts.join('')),
);

const lowerAlnum = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789'),
  minLength: 1,
  maxLength: 8,
});
const component = fc
  .tuple(
    lowerAlnum,
    fc.array(fc.tuple(fc.constantFrom('.', '_', '__', '-', '--'), lowerAlnum), { maxLength: 2 }),
  )
  .map(([head, rest]) => head + rest.map(([separator, part]) => separator + part).join(''));
const repository = fc.array(component, { minLength: 2, maxLength: 4 }).map((parts) => parts.join('/'));
const tag = fc
  .tuple(
    fc.constantFrom(...'abcXYZ019_'),
    fc.string({ unit: fc.constantFrom(...'abcXYZ019_.-'), maxLength: 20 }),
  )
  .map(([first, rest]) => first + rest);
const registry = fc.constantFrom(
  'localhost',
  'localhost:5000',
  '127.0.0.1:5000',
  'registry.example.com',
  '[::1]:5000',
);
const digest = fc.uint8Array({ maxLength: 16 }).map((bytes) => digestOf(bytes));

describe('reference parser', () => {
  it('arbitrary text parses to a stable form or a typed error', () => {
    fc.assert(
      fc.property(text, (value) => {
        const reference = parseOrTypedError(() => parseReference(value), InvalidReferenceError);
        if (reference === undefined) return;
        const printed = reference.toString();
        const again = parseReference(printed);
        assert.equal(again.toString(), printed);
        assert.equal(again.registry, reference.registry);
        assert.equal(again.repository, reference.repository);
        assert.equal(again.tag, reference.tag);
        assert.equal(again.digest, reference.digest);
      }),
      settings,
    );
  });

  it('generated references print back as written', () => {
    fc.assert(
      fc.property(
        registry,
        repository,
        fc.option(tag),
        fc.option(digest),
        (host, name, tagValue, digestValue) => {
          let value = `${host}/${name}`;
          if (tagValue !== null) value += `:${tagValue}`;
          if (digestValue !== null) value += `@${digestValue}`;
          const reference = parseReference(value);
          assert.equal(reference.toString(), value);
          assert.equal(reference.registry, host);
          assert.equal(reference.repository, name);
          assert.equal(reference.tag, tagValue ?? undefined);
          assert.equal(reference.digest, digestValue ?? undefined);
        },
      ),
      settings,
    );
  });

  it('long hostile input fails fast', () => {
    const hostile = [
      `${'a-'.repeat(20_000)}!/x`,
      `${'a'.repeat(50_000)}.${'b'.repeat(50_000)}:/x`,
      `localhost/${'a-'.repeat(20_000)}A`,
      `localhost/${'a'.repeat(10_000)}:${'b'.repeat(10_000)}`,
      `localhost/a@sha256:${'0'.repeat(100_000)}`,
      `${'a.'.repeat(20_000)}-/x:1`,
    ];
    for (const value of hostile) {
      const started = performance.now();
      assert.throws(() => parseReference(value), InvalidReferenceError);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 200, `${value.slice(0, 24)}... took ${elapsed.toFixed(1)} ms`);
    }
  });
});

describe('digest parser', () => {
  it('arbitrary text parses to the same text or a typed error', () => {
    fc.assert(
      fc.property(text, (value) => {
        const parsed = parseOrTypedError(() => parseDigest(value), InvalidDigestError);
        if (parsed !== undefined) assert.equal(`${parsed.algorithm}:${parsed.encoded}`, value);
      }),
      settings,
    );
  });

  it('near-valid digests parse back or fail typed', () => {
    const hex = fc.string({
      unit: fc.constantFrom(...'0123456789abcdefABCDEF+=_-'),
      minLength: 60,
      maxLength: 132,
    });
    const algorithm = fc.constantFrom('sha256', 'sha512', 'sha384', 'SHA256', 'sha256+b64', 'md5', '');
    fc.assert(
      fc.property(algorithm, hex, (name, encoded) => {
        const value = `${name}:${encoded}`;
        const parsed = parseOrTypedError(() => parseDigest(value), InvalidDigestError);
        if (parsed !== undefined) assert.equal(`${parsed.algorithm}:${parsed.encoded}`, value);
      }),
      settings,
    );
  });
});

describe('platform parser', () => {
  it('arbitrary text formats back the same or fails typed', () => {
    fc.assert(
      fc.property(text, (value) => {
        const platform = parseOrTypedError(() => parsePlatform(value), InvalidPlatformError);
        if (platform !== undefined) assert.equal(formatPlatform(platform), value);
      }),
      settings,
    );
  });

  it('generated platforms format back as written', () => {
    const part = fc
      .string({ unit: fc.constantFrom(...'abz019._-'), minLength: 0, maxLength: 8 })
      .map((rest) => `a${rest}`);
    fc.assert(
      fc.property(part, part, fc.option(part), (os, architecture, variant) => {
        const value = variant === null ? `${os}/${architecture}` : `${os}/${architecture}/${variant}`;
        assert.equal(formatPlatform(parsePlatform(value)), value);
      }),
      settings,
    );
  });
});

describe('media type in descriptors', () => {
  it('arbitrary media types are kept as given or fail typed', () => {
    fc.assert(
      fc.property(text, (mediaType) => {
        const descriptor = parseOrTypedError(
          () => parseDescriptor({ mediaType, digest: digestOf(''), size: 0 }),
          InvalidManifestError,
        );
        if (descriptor === undefined) return;
        assert.equal(descriptor.mediaType, mediaType);
        assert.doesNotMatch(mediaType, /[\s\0<>"]/);
      }),
      settings,
    );
  });
});

describe('manifest parser', () => {
  const descriptor = fc.record(
    {
      mediaType: fc.oneof(fc.constant('application/octet-stream'), text, fc.integer()),
      digest: fc.oneof(digest, text),
      size: fc.oneof(fc.nat(), fc.integer(), fc.double(), fc.constant('1')),
      annotations: fc.oneof(fc.dictionary(text, text, { maxKeys: 3 }), fc.constant(null), fc.constant([])),
      platform: fc.oneof(fc.record({ os: text, architecture: text }), fc.constant('linux/amd64')),
      urls: fc.oneof(fc.array(text, { maxLength: 2 }), fc.constant('x')),
    },
    { requiredKeys: ['mediaType', 'digest', 'size'] },
  );
  const manifestLike = fc.record(
    {
      schemaVersion: fc.oneof(fc.constant(2), fc.integer(), fc.constant('2')),
      mediaType: fc.oneof(
        fc.constantFrom(
          'application/vnd.oci.image.manifest.v1+json',
          'application/vnd.oci.image.index.v1+json',
          'application/vnd.docker.distribution.manifest.v2+json',
          'application/vnd.docker.distribution.manifest.list.v2+json',
        ),
        text,
      ),
      artifactType: fc.oneof(fc.constant('application/vnd.ocidrop.release.v1'), fc.integer()),
      config: descriptor,
      layers: fc.oneof(fc.array(descriptor, { maxLength: 3 }), fc.constant({})),
      manifests: fc.oneof(fc.array(descriptor, { maxLength: 3 }), fc.constant('')),
      subject: descriptor,
      annotations: fc.oneof(fc.dictionary(text, text, { maxKeys: 3 }), fc.constant(7)),
    },
    { requiredKeys: ['schemaVersion'] },
  );
  const contentType = fc.option(
    fc.oneof(
      fc.constantFrom('application/json', 'application/vnd.oci.image.index.v1+json; charset=utf-8'),
      text,
    ),
  );

  function checkRoundTrip(bytes: string | Uint8Array, type: string | undefined): void {
    const parsed = parseOrTypedError(() => parseManifest(bytes, type), InvalidManifestError);
    if (parsed === undefined) return;
    const encoded = encodeManifest(parsed.manifest);
    const again = parseManifest(encoded, type);
    assert.equal(again.kind, parsed.kind);
    assert.equal(again.mediaType, parsed.mediaType);
    assert.deepEqual(again.manifest, parsed.manifest);
    assert.deepEqual(encodeManifest(again.manifest), encoded);
  }

  it('manifest-shaped JSON round-trips or fails typed', () => {
    fc.assert(
      fc.property(manifestLike, contentType, (body, type) =>
        checkRoundTrip(JSON.stringify(body), type ?? undefined),
      ),
      settings,
    );
  });

  it('arbitrary JSON and bytes round-trip or fail typed', () => {
    const input = fc.oneof(fc.json({ maxDepth: 4 }), text, fc.uint8Array({ maxLength: 200 }));
    fc.assert(
      fc.property(input, contentType, (bytes, type) => checkRoundTrip(bytes, type ?? undefined)),
      settings,
    );
  });

  it('deeply nested JSON fails typed and fast', () => {
    for (const depth of [1_000, 100_000]) {
      const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
      const started = performance.now();
      assert.throws(() => parseManifest(nested), InvalidManifestError);
      assert.ok(performance.now() - started < 500);
    }
  });
});

describe('User-Agent detection', () => {
  const KNOWN_OS = new Set(['windows', 'darwin', 'linux', 'android', 'ios', 'freebsd']);
  const agentParts = fc.constantFrom(
    'Mozilla/5.0 ',
    '(Windows NT 10.0; Win64; x64) ',
    '(Macintosh; Intel Mac OS X 10_15_7) ',
    '(X11; Linux aarch64) ',
    '(iPhone; CPU iPhone OS 17_0 like Mac OS X) ',
    '(Linux; Android 14; Pixel 8) ',
    'Darwin/23.0.0 RELEASE_ARM64_T6000 ',
    'FreeBSD amd64 ',
    'CrOS ',
    'ARM64; ',
    'curl/8.5.0',
    'PowerShell/7.4 ',
  );
  const agent = fc.oneof(
    text,
    fc.array(fc.oneof(agentParts, text), { maxLength: 10 }).map((parts) => parts.join('')),
  );

  function checkDetected(detected: ReturnType<typeof detectFromUserAgent>): void {
    if (detected.os !== undefined) assert.ok(KNOWN_OS.has(detected.os), `unexpected os ${detected.os}`);
    if (detected.architecture !== undefined) {
      assert.match(detected.architecture, /^(?:amd64|arm64|386|arm)$/);
      assert.deepEqual(detected.candidates, [detected.architecture]);
    } else {
      assert.deepEqual(detected.candidates, candidatesFor(detected.os));
    }
  }

  it('any User-Agent yields a known platform or none', () => {
    fc.assert(
      fc.property(agent, (userAgent) => {
        const started = performance.now();
        const detected = detectFromUserAgent(userAgent);
        assert.ok(performance.now() - started < MAX_CALL_MS);
        checkDetected(detected);
        assert.ok(detected.source === 'user-agent' || detected.source === 'none');
        assert.deepEqual(detectFromUserAgent(userAgent), detected);
      }),
      settings,
    );
  });

  // Names of Object.prototype members are left to the test below, which records the bug they hit.
  const OBJECT_MEMBERS = new Set(
    Object.getOwnPropertyNames(Object.prototype).map((name) => name.toLowerCase()),
  );

  it('any client hints yield a known platform or none', () => {
    const hint = fc
      .oneof(fc.constantFrom('"Windows"', '"macOS"', '"Linux"', '"x86"', '"arm"', '"64"', '"32"', ''), text)
      .filter((value) => !OBJECT_MEMBERS.has(value.replace(/^"|"$/g, '').toLowerCase()));
    fc.assert(
      fc.property(agent, hint, hint, hint, (userAgent, platform, arch, bitness) => {
        const detected = detectPlatform({
          'user-agent': userAgent,
          'sec-ch-ua-platform': platform,
          'sec-ch-ua-arch': arch,
          'sec-ch-ua-bitness': bitness,
        });
        checkDetected(detected);
      }),
      settings,
    );
  });

  it('platform hint named like an Object member', () => {
    for (const platform of ['__proto__', 'constructor', '"hasOwnProperty"']) {
      const detected = detectPlatform({ 'sec-ch-ua-platform': platform });
      assert.equal(detected.os, undefined, platform);
    }
  });

  it('long hostile User-Agents are read fast', () => {
    for (const userAgent of [
      'Windows '.repeat(10_000),
      `(${'; '.repeat(40_000)}`,
      `${'a'.repeat(100_000)}Linux`,
    ]) {
      const started = performance.now();
      detectFromUserAgent(userAgent);
      assert.ok(performance.now() - started < 200);
    }
  });
});
