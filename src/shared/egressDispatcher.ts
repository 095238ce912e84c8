import { Agent, buildConnector } from 'undici';
import type { EgressPolicy } from './egress.ts';

/**
 * An undici connector that applies the egress policy when each connection
 * opens: it resolves the host itself, checks every address, and connects to
 * a checked address only, so what the host resolves to at connect time is
 * what is judged (a name that passed at save time and now points inside the
 * host is refused). The TLS server name stays the URL's host, so
 * certificates are checked against the name as usual. A refusal fails the
 * request with the policy's EgressRefusedError (code `egress_refused`).
 */
export function egressConnector(policy: EgressPolicy, options: buildConnector.BuildOptions = {}): buildConnector.connector {
  const connect = buildConnector(options);
  return (opts, callback) => {
    const protocol = opts.protocol === 'http:' ? 'http:' : 'https:';
    const host = opts.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(opts.port) || (protocol === 'https:' ? 443 : 80);
    policy.checkConnection({ host, port, protocol }).then(
      ([address]) => {
        connect({ ...opts, hostname: address }, callback);
      },
      (err: Error) => callback(err, null),
    );
  };
}

/**
 * A keep-alive undici Agent whose every connection goes through the egress
 * policy. Redirects are never followed: undici's `request` returns a 3xx as
 * it is, and no redirect interceptor is added.
 */
export function createEgressDispatcher(policy: EgressPolicy, options: Omit<Agent.Options, 'connect'> = {}): Agent {
  return new Agent({ ...options, connect: egressConnector(policy) });
}
