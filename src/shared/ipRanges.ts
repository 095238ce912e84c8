import { isIP } from 'node:net';

/** An IP address as a number: 32 bits for IPv4, 128 for IPv6. */
export interface IpValue {
  readonly family: 4 | 6;
  readonly value: bigint;
}

/** A network: every address whose first `prefix` bits equal those of `base`. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly base: bigint;
  readonly prefix: number;
}

/**
 * Parses an IPv4 or IPv6 address as the resolver or the URL parser writes it
 * (brackets and an IPv6 zone such as `%eth0` allowed); null when it is not one.
 */
export function parseIp(text: string): IpValue | null {
  let t = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  const family = isIP(t);
  if (family === 4) return { family: 4, value: ipv4Value(t) };
  if (family === 6) return { family: 6, value: ipv6Value(t) };
  return null;
}

function ipv4Value(t: string): bigint {
  return t.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

// Only called on what isIP accepted: at most one `::`, an optional trailing dotted IPv4.
function ipv6Value(t: string): bigint {
  let groups: number[] = [];
  const parse = (s: string): number[] => {
    if (!s) return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (g.includes('.')) {
        const v4 = Number(ipv4Value(g));
        out.push(v4 >>> 16, v4 & 0xffff);
      } else out.push(parseInt(g, 16));
    }
    return out;
  };
  const gap = t.indexOf('::');
  if (gap < 0) groups = parse(t);
  else {
    const head = parse(t.slice(0, gap));
    const tail = parse(t.slice(gap + 2));
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  }
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Parses `address/prefix`; null when either part is invalid. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.lastIndexOf('/');
  if (slash < 0) return null;
  const ip = parseIp(text.slice(0, slash));
  const bits = text.slice(slash + 1);
  if (!ip || !/^\d{1,3}$/.test(bits)) return null;
  const prefix = Number(bits);
  if (prefix > (ip.family === 4 ? 32 : 128)) return null;
  return { family: ip.family, base: ip.value, prefix };
}

/** Whether `ip` lies in `net` (an IPv4-mapped IPv6 address counts as its IPv4 address). */
export function inCidr(ip: IpValue, net: Cidr): boolean {
  const a = unmapped(ip);
  if (a.family !== net.family) return false;
  const width = BigInt(a.family === 4 ? 32 : 128);
  const shift = width - BigInt(net.prefix);
  return a.value >> shift === net.base >> shift;
}

/** `::ffff:a.b.c.d` as the IPv4 address a.b.c.d; any other address unchanged. */
export function unmapped(ip: IpValue): IpValue {
  if (ip.family === 6 && ip.value >> 32n === 0xffffn) return { family: 4, value: ip.value & 0xffffffffn };
  return ip;
}

const cidr = (text: string): Cidr => parseCidr(text)!;

/** IPv4 ranges no tenant-set URL may reach, with the name the refusal gives. */
const V4_REFUSED: [Cidr, string][] = [
  [cidr('0.0.0.0/8'), 'unspecified ("this network")'],
  [cidr('10.0.0.0/8'), 'private'],
  [cidr('100.64.0.0/10'), 'shared (carrier-grade NAT)'],
  [cidr('127.0.0.0/8'), 'loopback'],
  [cidr('169.254.0.0/16'), 'link-local (cloud metadata)'],
  [cidr('172.16.0.0/12'), 'private'],
  [cidr('192.0.0.0/24'), 'reserved (IETF protocol assignments)'],
  [cidr('192.0.2.0/24'), 'reserved (documentation)'],
  [cidr('192.88.99.0/24'), 'reserved (6to4 relay)'],
  [cidr('192.168.0.0/16'), 'private'],
  [cidr('198.18.0.0/15'), 'reserved (benchmarking)'],
  [cidr('198.51.100.0/24'), 'reserved (documentation)'],
  [cidr('203.0.113.0/24'), 'reserved (documentation)'],
  [cidr('224.0.0.0/4'), 'multicast'],
  [cidr('255.255.255.255/32'), 'broadcast'],
  [cidr('240.0.0.0/4'), 'reserved'],
];

/** IPv6 ranges refused outright (the forms that embed an IPv4 address are judged by it, below). */
const V6_REFUSED: [Cidr, string][] = [
  [cidr('::/128'), 'unspecified'],
  [cidr('::1/128'), 'loopback'],
  [cidr('::/96'), 'reserved (IPv4-compatible)'],
  [cidr('64:ff9b:1::/48'), 'reserved (local NAT64)'],
  [cidr('100::/64'), 'reserved (discard)'],
  [cidr('2001::/23'), 'reserved (IETF protocol assignments, Teredo)'],
  [cidr('2001:db8::/32'), 'reserved (documentation)'],
  [cidr('3fff::/20'), 'reserved (documentation)'],
  [cidr('fc00::/7'), 'unique-local (private)'],
  [cidr('fe80::/10'), 'link-local'],
  [cidr('fec0::/10'), 'site-local (private)'],
  [cidr('ff00::/8'), 'multicast'],
];

const NAT64 = cidr('64:ff9b::/96');
const SIX_TO_FOUR = cidr('2002::/16');

/**
 * Why an address is not a public one (`"loopback"`, `"private"`,
 * `"link-local (cloud metadata)"` …), or null for a public address. An IPv6
 * address that carries an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, NAT64
 * `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) is judged by that IPv4 address,
 * so no spelling of 127.0.0.1 passes.
 */
export function nonPublicReason(ip: IpValue): string | null {
  if (ip.family === 4) return firstMatch(ip, V4_REFUSED);
  const mapped = unmapped(ip);
  if (mapped.family === 4) return prefixed('IPv4-mapped', firstMatch(mapped, V4_REFUSED));
  if (inCidr(ip, NAT64)) return prefixed('NAT64', firstMatch({ family: 4, value: ip.value & 0xffffffffn }, V4_REFUSED));
  if (inCidr(ip, SIX_TO_FOUR)) return prefixed('6to4', firstMatch({ family: 4, value: (ip.value >> 80n) & 0xffffffffn }, V4_REFUSED));
  return firstMatch(ip, V6_REFUSED);
}

function firstMatch(ip: IpValue, ranges: [Cidr, string][]): string | null {
  for (const [net, reason] of ranges) if (inCidr(ip, net)) return reason;
  return null;
}

const prefixed = (form: string, reason: string | null) => (reason ? `${form} ${reason}` : null);
