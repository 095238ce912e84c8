import { isIP } from 'node:net';

/** One allowed Host: a name (or IP literal, IPv6 in brackets) and a port, or any port when null. */
export interface HostEntry {
  readonly host: string;
  readonly port: number | null;
}

/**
 * Which Host names the gateway answers. `any`: every name (no allow-list
 * given on a non-loopback bind, or `*`); otherwise only `entries` and the
 * loopback names, which a DNS-rebinding page can never make a browser send.
 */
export interface AllowedHosts {
  readonly any: boolean;
  readonly entries: readonly HostEntry[];
  /** True when `any` was chosen for lack of a setting: the server warns once at start. */
  readonly unset: boolean;
}

/** Proxies whose X-Forwarded-For (and -Proto, -Host) are believed: none, every hop, or the hops from these addresses/CIDRs. */
export type TrustProxy = boolean | readonly string[];

/** The HTTP server's limits and front-door settings (docs/security.md). */
export interface HttpConfig {
  /** The whole request, headers and body, must arrive within this; 408 otherwise. */
  readonly requestTimeoutMs: number;
  /** The headers must arrive within this (at most the request timeout). */
  readonly headersTimeoutMs: number;
  /** An idle keep-alive connection is closed after this. */
  readonly keepAliveTimeoutMs: number;
  /** Connections open at once; more are closed as they arrive. */
  readonly maxConnections: number;
  /** Bytes of webhook bodies being read at once, across all requests; past it webhooks answer 503. */
  readonly webhookInflightBytes: number;
  readonly allowedHosts: AllowedHosts;
  /** The public URL the gateway is reached at (its host is allowed), or null. */
  readonly publicUrl: string | null;
  readonly trustProxy: TrustProxy;
}

/** Names that always mean this machine; a browser sends them only for a page served from this machine. */
export const LOOPBACK_HOSTS: readonly string[] = ['localhost', '127.0.0.1', '[::1]'];

const NAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/;

/**
 * Parses a Host value (`name`, `name:port`, `[v6]`, `[v6]:port`), lower-cased;
 * null when it is not one.
 */
export function parseHost(value: string): HostEntry | null {
  const v = value.trim().toLowerCase();
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(v);
  if (!m) return null;
  const host = m[1];
  const port = m[2] === undefined ? null : Number(m[2]);
  if (port !== null && (port < 1 || port > 65535)) return null;
  if (host.startsWith('[') ? isIP(host.slice(1, -1)) !== 6 : !(NAME.test(host) || isIP(host) === 4)) return null;
  return { host, port };
}

/** `WAGATE_ALLOWED_HOSTS`: `*`, or comma-separated hosts with optional port. Throws a message naming the bad entry. */
export function parseAllowedHosts(value: string): HostEntry[] | '*' {
  if (value.trim() === '*') return '*';
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean);
  if (entries.length === 0) throw new Error('must list host names (name or name:port, comma-separated) or be *');
  return entries.map((entry) => {
    const parsed = parseHost(entry);
    if (!parsed) throw new Error(`${JSON.stringify(entry)} is not a host name or host:port`);
    return parsed;
  });
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);

/**
 * The allow-list in effect: the listed hosts and the public URL's host; with
 * neither, the loopback names in sandbox mode or on a loopback bind, else any
 * host (with a warning at start).
 */
export function resolveAllowedHosts(opts: { list: HostEntry[] | '*' | null; publicUrl: string | null; sandbox: boolean; bindHost: string }): AllowedHosts {
  if (opts.list === '*') return { any: true, entries: [], unset: false };
  const entries: HostEntry[] = [...(opts.list ?? [])];
  if (opts.publicUrl) {
    const u = new URL(opts.publicUrl);
    // The URL's explicit port, or any port when it names none: the default port of its scheme and whatever a proxy adds.
    entries.push({ host: u.hostname.toLowerCase(), port: u.port ? Number(u.port) : null });
  }
  if (entries.length > 0) return { any: false, entries, unset: false };
  if (opts.sandbox || isLoopback(opts.bindHost.toLowerCase())) return { any: false, entries: [], unset: false };
  return { any: true, entries: [], unset: true };
}

/** True when `hostHeader` is allowed (loopback names always are, with any port). */
export function hostAllowed(allowed: AllowedHosts, hostHeader: string): boolean {
  if (allowed.any) return true;
  const h = parseHost(hostHeader);
  if (!h) return false;
  if (LOOPBACK_HOSTS.includes(h.host)) return true;
  return allowed.entries.some((e) => e.host === h.host && (e.port === null || e.port === h.port));
}

/**
 * `WAGATE_TRUST_PROXY`: `false` (default), comma-separated proxy addresses
 * and CIDRs (or `loopback`, `linklocal`, `uniquelocal`), or `true` (every
 * hop: only when nothing but the proxy can reach the gateway, since the
 * client then names its own address). A hop count is refused: fastify does
 * not honour one, and the proxy's address is the safer setting anyway.
 * Throws a message naming the bad entry.
 */
export function parseTrustProxy(value: string): TrustProxy {
  const v = value.trim().toLowerCase();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  if (/^\d+$/.test(v)) throw new Error('a hop count is not supported: give the proxy addresses or CIDRs (or true)');
  return v.split(',').map((s) => s.trim()).filter(Boolean).map((entry) => {
    if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return entry;
    const [addr, bits, extra] = entry.split('/');
    const family = isIP(addr);
    const max = family === 4 ? 32 : 128;
    const bitsOk = bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max);
    if (family === 0 || !bitsOk || extra !== undefined) throw new Error(`${JSON.stringify(entry)} is not true, false, an address or a CIDR`);
    return entry;
  });
}

/**
 * The rule for `WAGATE_ADMIN_KEY` (at least 128 bits): 32 characters or more
 * (32 hex characters are exactly 128 random bits), with at least 8 different
 * ones, which any random key of that length has and a repeated pattern does not.
 */
export function isStrongAdminKey(key: string): boolean {
  return key.length >= 32 && new Set(key).size >= 8;
}
