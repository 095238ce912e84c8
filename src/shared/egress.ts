import { lookup as dnsLookup } from 'node:dns/promises';
import { AppError } from './errors.ts';
import { inCidr, nonPublicReason, parseCidr, parseIp, type Cidr, type IpValue } from './ipRanges.ts';

/**
 * One destination the operator allows (`WAGATE_EGRESS_ALLOW`): a host name
 * and port, or a network (an IP address with a port is the network of that
 * one address), with a port or every port.
 */
export type EgressRule = { readonly kind: 'name'; readonly host: string; readonly port: number } | { readonly kind: 'net'; readonly net: Cidr; readonly port: number | null };

/** Resolves a host name to every address it has (the system resolver by default). */
export type EgressLookup = (hostname: string) => Promise<string[]>;

/** Why the policy refuses a URL or a connection; at save time the API answers it as a 400. */
export class EgressRefusedError extends AppError {
  constructor(message: string) {
    super(400, 'egress_refused', message);
    this.name = 'EgressRefusedError';
  }
}

const ALLOW_HINT = 'tenants may only reach public addresses, or destinations the operator allows with WAGATE_EGRESS_ALLOW';

/**
 * Parses `WAGATE_EGRESS_ALLOW`: comma-separated `host:port` (`models.internal:8000`,
 * `127.0.0.1:11434`, `[::1]:8080`) or CIDR with an optional port (`10.0.0.0/8`,
 * `10.1.2.0/24:8000`, `fd00::/8`). Throws an Error naming the first bad entry.
 */
export function parseEgressAllow(text: string): EgressRule[] {
  const rules: EgressRule[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (!entry) continue;
    const rule = parseRule(entry);
    if (!rule) throw new Error(`entry ${JSON.stringify(entry)} must be host:port (e.g. models.internal:8000) or a CIDR with an optional port (e.g. 10.0.0.0/8 or 10.0.0.0/8:8000)`);
    rules.push(rule);
  }
  return rules;
}

function parseRule(entry: string): EgressRule | null {
  const slash = entry.indexOf('/');
  if (slash >= 0) {
    // address/prefix[:port]: after the slash, a colon can only start the port.
    const m = /^(\d{1,3})(?::(\d{1,5}))?$/.exec(entry.slice(slash + 1));
    const addr = entry.slice(0, slash);
    const net = m ? parseCidr(`${addr.replace(/^\[(.*)\]$/, '$1')}/${m[1]}`) : null;
    const port = m?.[2] === undefined ? null : portOf(m[2]);
    if (!net || port === 0) return null;
    return { kind: 'net', net, port };
  }
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]]+):(\d{1,5})$/.exec(entry);
  if (!m) return null;
  const port = portOf(m[2]);
  if (!port) return null;
  const ip = parseIp(m[1]);
  if (ip) return { kind: 'net', net: { family: ip.family, base: ip.value, prefix: ip.family === 4 ? 32 : 128 }, port };
  const host = m[1].toLowerCase().replace(/\.$/, '');
  if (!/^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/.test(host)) return null;
  return { kind: 'name', host, port };
}

// 0 for an invalid port, which no rule accepts.
const portOf = (s: string) => (Number(s) >= 1 && Number(s) <= 65535 ? Number(s) : 0);

/** A URL's destination as the policy judges it. */
interface Destination {
  /** The URL's host without brackets, as the URL parser normalised it (`2130706433` → `127.0.0.1`). */
  host: string;
  port: number;
  protocol: 'http:' | 'https:';
}

const systemLookup: EgressLookup = async (hostname) => (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

/**
 * The egress policy for every URL a tenant sets (agent `url` and `baseUrl`):
 * `https` only, `http` only to a destination on the allow-list; and the
 * destination's addresses, every one of them, must be public or on the
 * allow-list. `checkUrl` runs it at save time; `checkConnection` runs it
 * again when a connection opens (see egressDispatcher.ts), so a name that
 * resolves elsewhere since (DNS rebinding) is still refused. URLs the
 * operator sets (OPENAI_BASE_URL, WHATSAPP_API_URL) do not go through it.
 */
export class EgressPolicy {
  private readonly allow: readonly EgressRule[];
  private readonly lookup: EgressLookup;
  private readonly lookupTimeoutMs: number;

  constructor(opts: { allow?: readonly EgressRule[]; lookup?: EgressLookup; lookupTimeoutMs?: number } = {}) {
    this.allow = opts.allow ?? [];
    this.lookup = opts.lookup ?? systemLookup;
    this.lookupTimeoutMs = opts.lookupTimeoutMs ?? 5_000;
  }

  /**
   * Checks a URL a tenant wants to save: its syntax, scheme, and every
   * address its host resolves to now. Throws EgressRefusedError with a
   * message fit for the tenant (it names the URL's host, never an allow-list entry).
   */
  async checkUrl(raw: string): Promise<void> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new EgressRefusedError('is not a valid URL');
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new EgressRefusedError(`must be https (got ${url.protocol.slice(0, -1)})`);
    if (url.username || url.password) throw new EgressRefusedError('must not carry a user name or password; use the key or secret fields');
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    await this.checkConnection({ host, port, protocol: url.protocol });
  }

  /**
   * Resolves and checks a destination as a connection is opened, returning
   * the checked addresses to connect to (the host itself for a host name on
   * the allow-list, which the operator trusts wherever it resolves).
   */
  async checkConnection(dest: Destination): Promise<string[]> {
    const { host, port, protocol } = dest;
    const name = host.toLowerCase().replace(/\.$/, '');
    if (this.allow.some((r) => r.kind === 'name' && r.host === name && r.port === port)) return [host];
    const literal = parseIp(host);
    const addresses = literal ? [host] : await this.resolve(host);
    let allAllowed = true;
    for (const address of addresses) {
      const ip = parseIp(address);
      if (!ip) throw new EgressRefusedError(`${host} resolves to ${JSON.stringify(address)}, which is not an IP address`);
      if (this.allowedNet(ip, port)) continue;
      allAllowed = false;
      const reason = nonPublicReason(ip);
      if (reason) {
        const what = literal ? `${host} is a private address (${reason})` : `${host} resolves to a private address (${address}: ${reason})`;
        throw new EgressRefusedError(`${what}; ${ALLOW_HINT}`);
      }
    }
    if (protocol === 'http:' && !allAllowed) {
      throw new EgressRefusedError(`must be https: plain http is only allowed to destinations the operator allows with WAGATE_EGRESS_ALLOW`);
    }
    return addresses;
  }

  private allowedNet(ip: IpValue, port: number): boolean {
    return this.allow.some((r) => r.kind === 'net' && (r.port === null || r.port === port) && inCidr(ip, r.net));
  }

  private async resolve(host: string): Promise<string[]> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new EgressRefusedError(`${host} did not resolve within ${this.lookupTimeoutMs} ms`)), this.lookupTimeoutMs);
    });
    try {
      const addresses = await Promise.race([this.lookup(host), timeout]);
      if (addresses.length === 0) throw new EgressRefusedError(`${host} does not resolve to any address`);
      return addresses;
    } catch (err) {
      if (err instanceof EgressRefusedError) throw err;
      const code = (err as { code?: unknown })?.code;
      throw new EgressRefusedError(`${host} could not be resolved${typeof code === 'string' ? ` (${code})` : ''}`);
    } finally {
      clearTimeout(timer);
    }
  }
}
