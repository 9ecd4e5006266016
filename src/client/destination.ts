/**
 * The rule for the hosts a registry may send the client to: token realms, upload `Location`s and
 * redirects. A registry on a public host must not point the client at a loopback, link-local or
 * private address, where it would reach services that only this machine or its network can see
 * (server-side request forgery). A registry that is itself on such an address may, because a local
 * registry's token server and storage are local too.
 *
 * The checks read the host as written in the URL and resolve no names.
 */
import { BlockList, isIP } from 'node:net';
import { OcidropError } from '../oci/errors.js';

/** A token realm, upload `Location` or redirect that leads from a public registry to an internal address. */
export class UnsafeDestinationError extends OcidropError {
  override name = 'UnsafeDestinationError';
  constructor(registry: string, what: string, target: string) {
    super(
      'ERR_UNSAFE_DESTINATION',
      `${registry} sent ${what} ${target}, a loopback, link-local or private address that a public registry must not send clients to; ocidrop did not contact it`,
    );
  }
}

// Loopback, unspecified, link-local, private (RFC 1918), shared (RFC 6598) and unique local (RFC 4193) ranges.
const INTERNAL_RANGES = new BlockList();
INTERNAL_RANGES.addSubnet('0.0.0.0', 8, 'ipv4');
INTERNAL_RANGES.addSubnet('10.0.0.0', 8, 'ipv4');
INTERNAL_RANGES.addSubnet('100.64.0.0', 10, 'ipv4');
INTERNAL_RANGES.addSubnet('127.0.0.0', 8, 'ipv4');
INTERNAL_RANGES.addSubnet('169.254.0.0', 16, 'ipv4');
INTERNAL_RANGES.addSubnet('172.16.0.0', 12, 'ipv4');
INTERNAL_RANGES.addSubnet('192.168.0.0', 16, 'ipv4');
INTERNAL_RANGES.addAddress('::', 'ipv6');
INTERNAL_RANGES.addAddress('::1', 'ipv6');
INTERNAL_RANGES.addSubnet('fe80::', 10, 'ipv6');
INTERNAL_RANGES.addSubnet('fc00::', 7, 'ipv6');

/**
 * Tells whether a URL host name (as in `URL.hostname`, IPv6 in brackets) is a loopback, link-local or
 * private address, or `localhost`.
 *
 * NOTE: a public name that resolves to an internal address is not caught, because nothing here
 * resolves names. A caller that must close that gap checks the connected address.
 */
export function isInternalHostname(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;

  const address = name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name;
  const family = isIP(address);
  if (family === 4) return INTERNAL_RANGES.check(address, 'ipv4');
  if (family !== 6) return false;

  // An IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, which URL writes as `::ffff:7f00:1`) reaches the IPv4 host.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(address);
  if (mapped !== null) {
    const high = Number.parseInt(mapped[1]!, 16);
    const low = Number.parseInt(mapped[2]!, 16);
    const ipv4 = [high >> 8, high & 255, low >> 8, low & 255].join('.');
    return INTERNAL_RANGES.check(ipv4, 'ipv4');
  }
  return INTERNAL_RANGES.check(address, 'ipv6');
}

/**
 * Tells whether a registry at `registry` may send the client to `target`: always, unless the
 * registry is on a public host and the target on an internal one.
 */
export function isAllowedDestination(registry: URL, target: URL): boolean {
  return isInternalHostname(registry.hostname) || !isInternalHostname(target.hostname);
}

/**
 * Throws {@link UnsafeDestinationError} when a registry at `registry` sends the client to an internal `target`.
 * @param what what named the target, such as `the token realm`, for the message.
 */
export function checkDestination(registry: URL, target: URL, what: string): void {
  if (!isAllowedDestination(registry, target)) {
    throw new UnsafeDestinationError(registry.host, what, `${target.protocol}//${target.host}`);
  }
}

/**
 * Tells whether a token realm may receive the registry's credentials: only when it is on the
 * registry's host name (any port), on a name under it, or on a sibling name under the registry's
 * parent domain, as `auth.docker.io` is for `registry-1.docker.io`.
 *
 * Credentials belong to the registry's host, so another host gets none: a registry that names a
 * realm elsewhere gets an anonymous token request. The sibling rule keeps registries that split
 * their token server onto a neighbouring name working, and requires a parent of at least two
 * labels, so that `a.com` and `b.com` never count as siblings.
 * NOTE: the parent domain is taken by removing one label, without a public-suffix list, so on a
 * shared domain such as `*.example-hosting.net` another tenant counts as a sibling.
 */
export function mayReceiveCredentials(registry: URL, realm: URL): boolean {
  const registryName = registry.hostname.toLowerCase();
  const realmName = realm.hostname.toLowerCase();
  if (realmName === registryName) return true;
  if (isIP(registryName.replace(/^\[|\]$/g, '')) !== 0) return false;

  if (realmName.endsWith(`.${registryName}`)) return true;

  const parent = registryName.split('.').slice(1);
  if (parent.length < 2) return false;
  return realmName.endsWith(`.${parent.join('.')}`);
}
