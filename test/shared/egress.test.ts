import { describe, expect, it } from 'vitest';
import { EgressPolicy, EgressRefusedError, parseEgressAllow, type EgressLookup } from '../../src/shared/egress.ts';

/** A resolver that knows only these names (anything else: ENOTFOUND, as DNS would say). */
function resolver(names: Record<string, string[]>): EgressLookup {
  return async (host) => {
    const found = names[host];
    if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return found;
  };
}

const PUBLIC = '93.184.215.14';
const strict = new EgressPolicy({ lookup: resolver({ 'models.example.com': [PUBLIC, '2606:2800:21f:cb07:6820:80da:af6b:8b2c'] }) });

async function refusal(policy: EgressPolicy, url: string): Promise<string> {
  try {
    await policy.checkUrl(url);
  } catch (err) {
    expect(err).toBeInstanceOf(EgressRefusedError);
    expect(err).toMatchObject({ status: 400, code: 'egress_refused' });
    return (err as Error).message;
  }
  throw new Error(`${url} was accepted`);
}

/** Every spelling of a non-public destination the brief names, and the reason the refusal gives. */
export const REFUSED_URLS: [string, RegExp][] = [
  ['https://127.0.0.1/v1', /127\.0\.0\.1 is a private address \(loopback\)/],
  ['https://127.8.9.10:8443/', /loopback/],
  ['https://[::1]:11434/v1', /::1 is a private address \(loopback\)/],
  ['https://2130706433/', /127\.0\.0\.1 is a private address \(loopback\)/],
  ['https://0x7f.1/', /127\.0\.0\.1.*loopback/],
  ['https://017700000001/', /127\.0\.0\.1.*loopback/],
  ['https://0x7f000001/', /loopback/],
  ['https://127.1/', /loopback/],
  ['https://10.1.2.3/', /private/],
  ['https://172.16.0.1/', /private/],
  ['https://172.31.255.254/', /private/],
  ['https://192.168.1.1/', /private/],
  ['https://169.254.169.254/latest/meta-data/', /link-local \(cloud metadata\)/],
  ['https://100.64.0.1/', /carrier-grade NAT/],
  ['https://0.0.0.0/', /unspecified/],
  ['https://0/', /unspecified/],
  ['https://[::]/', /unspecified/],
  ['https://255.255.255.255/', /broadcast/],
  ['https://224.0.0.1/', /multicast/],
  ['https://[ff02::1]/', /multicast/],
  ['https://240.0.0.1/', /reserved/],
  ['https://192.0.2.10/', /documentation/],
  ['https://198.18.0.1/', /benchmarking/],
  ['https://[fe80::1]/', /link-local/],
  ['https://[fd00::1]/', /unique-local/],
  ['https://[fc00::1]/', /unique-local/],
  ['https://[::ffff:127.0.0.1]/', /IPv4-mapped loopback/],
  ['https://[::ffff:169.254.169.254]/', /IPv4-mapped link-local/],
  ['https://[::ffff:10.0.0.1]/', /IPv4-mapped private/],
  ['https://[64:ff9b::127.0.0.1]/', /NAT64 loopback/],
  ['https://[64:ff9b::a9fe:a9fe]/', /NAT64 link-local/],
  ['https://[2002:7f00:1::]/', /6to4 loopback/],
  ['https://[2001:db8::1]/', /reserved/],
  ['https://[::127.0.0.1]/', /reserved \(IPv4-compatible\)/],
];

describe('the egress policy: URLs a tenant sets', () => {
  it.each(REFUSED_URLS)('refuses %s', async (url, reason) => {
    expect(await refusal(strict, url)).toMatch(reason);
  });

  it('accepts https to a public address, literal or resolved (IPv4 and IPv6)', async () => {
    await strict.checkUrl('https://models.example.com/v1');
    await strict.checkUrl(`https://${PUBLIC}:8443/agent`);
    await strict.checkUrl('https://[2606:4700:4700::1111]/');
    await strict.checkUrl('https://[64:ff9b::5db8:d70e]/'); // NAT64 of a public address
    expect(await strict.checkConnection({ host: 'models.example.com', port: 443, protocol: 'https:' })).toEqual([PUBLIC, '2606:2800:21f:cb07:6820:80da:af6b:8b2c']);
  });

  it('refuses a name that resolves to a private address, if any one of its addresses is', async () => {
    const policy = new EgressPolicy({
      lookup: resolver({ 'evil.example.com': ['127.0.0.1'], 'mixed.example.com': [PUBLIC, '10.0.0.7'], 'v6.example.com': ['::ffff:192.168.0.1'] }),
    });
    expect(await refusal(policy, 'https://evil.example.com/v1')).toBe(
      'evil.example.com resolves to a private address (127.0.0.1: loopback); tenants may only reach public addresses, or destinations the operator allows with WAGATE_EGRESS_ALLOW',
    );
    expect(await refusal(policy, 'https://mixed.example.com/')).toMatch(/resolves to a private address \(10\.0\.0\.7: private\)/);
    expect(await refusal(policy, 'https://v6.example.com/')).toMatch(/IPv4-mapped private/);
  });

  it('refuses localhost as the system resolver answers it', async () => {
    expect(await refusal(new EgressPolicy(), 'https://localhost:11434/v1')).toMatch(/^localhost resolves to a private address \((127\.0\.0\.1|::1): loopback\)/);
  });

  it('refuses a name that does not resolve, or not in time', async () => {
    expect(await refusal(strict, 'https://metadata.google.internal/computeMetadata/v1/')).toBe('metadata.google.internal could not be resolved (ENOTFOUND)');
    const slow = new EgressPolicy({ lookup: () => new Promise(() => {}), lookupTimeoutMs: 50 });
    expect(await refusal(slow, 'https://slow.example.com/')).toBe('slow.example.com did not resolve within 50 ms');
  });

  it('refuses plain http to a public address, and credentials in the URL', async () => {
    expect(await refusal(strict, 'http://models.example.com/v1')).toMatch(/^must be https/);
    expect(await refusal(strict, 'https://user:pw@models.example.com/v1')).toMatch(/user name or password/);
  });

  it('lets the operator allow a host:port (http too), and only that port', async () => {
    const policy = new EgressPolicy({ allow: parseEgressAllow('127.0.0.1:11434, models.internal:8000'), lookup: resolver({ 'models.internal': ['10.9.8.7'] }) });
    await policy.checkUrl('http://127.0.0.1:11434/v1');
    await policy.checkUrl('http://2130706433:11434/v1');
    await policy.checkUrl('https://127.0.0.1:11434/v1');
    await policy.checkUrl('http://models.internal:8000/agent');
    expect(await refusal(policy, 'http://127.0.0.1:11435/v1')).toMatch(/loopback/);
    expect(await refusal(policy, 'http://127.0.0.1/v1')).toMatch(/loopback/);
    expect(await refusal(policy, 'http://models.internal:8001/agent')).toMatch(/10\.9\.8\.7: private/);
    // An allowed name may resolve anywhere (the operator trusts it); an allowed address is allowed by any name that resolves to it.
    const named = new EgressPolicy({ allow: parseEgressAllow('127.0.0.1:11434'), lookup: resolver({ 'local.test': ['127.0.0.1'] }) });
    await named.checkUrl('http://local.test:11434/');
  });

  it('lets the operator allow a network, on every port or on one', async () => {
    const policy = new EgressPolicy({ allow: parseEgressAllow('10.0.0.0/8,192.168.5.0/24:8000,[fd00::]/8') });
    await policy.checkUrl('http://10.200.1.1:9999/');
    await policy.checkUrl('http://[::ffff:10.1.1.1]:80/');
    await policy.checkUrl('http://192.168.5.9:8000/');
    await policy.checkUrl('http://[fd12::3]:7000/');
    expect(await refusal(policy, 'http://192.168.5.9:8001/')).toMatch(/private/);
    expect(await refusal(policy, 'http://172.16.0.1/')).toMatch(/private/);
  });
});

describe('parseEgressAllow', () => {
  it('reads host:port, [IPv6]:port and CIDR with an optional port', () => {
    expect(parseEgressAllow('')).toEqual([]);
    expect(parseEgressAllow(' Models.Internal:8000 , 127.0.0.1:11434,[::1]:8080,10.0.0.0/8,10.1.0.0/16:443,fd00::/8')).toEqual([
      { kind: 'name', host: 'models.internal', port: 8000 },
      { kind: 'net', net: { family: 4, base: 0x7f000001n, prefix: 32 }, port: 11434 },
      { kind: 'net', net: { family: 6, base: 1n, prefix: 128 }, port: 8080 },
      { kind: 'net', net: { family: 4, base: 0x0a000000n, prefix: 8 }, port: null },
      { kind: 'net', net: { family: 4, base: 0x0a010000n, prefix: 16 }, port: 443 },
      { kind: 'net', net: { family: 6, base: 0xfdn << 120n, prefix: 8 }, port: null },
    ]);
  });

  it.each(['models.internal', '127.0.0.1', '127.0.0.1:0', 'host:70000', '10.0.0.0/33', '10.0.0.0/8:0', 'bad host:80', 'http://x:80', '::1:8080', '10.0.0/8', '*.internal:80'])(
    'refuses the entry %j, naming it',
    (entry) => {
      expect(() => parseEgressAllow(`127.0.0.1:1,${entry}`)).toThrow(`entry ${JSON.stringify(entry)} must be host:port`);
    },
  );
});
