import { z } from 'zod';
import { parseEgressAllow, type EgressRule } from '../shared/egress.ts';
import { isStrongAdminKey, parseAllowedHosts, parseTrustProxy, resolveAllowedHosts, type HttpConfig } from './http.ts';

/**
 * The process configuration, parsed once from the environment at start and frozen.
 * Nothing outside this folder reads `process.env`.
 */
export interface Config {
  /** Where the HTTP server listens. */
  readonly port: number;
  readonly host: string;
  /** A PostgreSQL server to use, directly or through a pooler; null starts the embedded one. */
  readonly databaseUrl: string | null;
  /**
   * A URL that reaches that PostgreSQL without a pooler (DATABASE_DIRECT_URL;
   * null: databaseUrl itself). It carries what belongs to one server session:
   * the two LISTEN connections, the process lock and the migration lock.
   */
  readonly databaseDirectUrl: string | null;
  /**
   * Named prepared statements and session parameters on the pool's
   * connections (DATABASE_PREPARED_STATEMENTS, default true). False when
   * DATABASE_URL is a transaction-mode pooler (PgBouncer): statements go
   * unnamed, connections carry no startup parameters, and the ingest lane's
   * statement timeout is not applied (docs/deploy.md).
   */
  readonly preparedStatements: boolean;
  /** Embedded PostgreSQL's data and other local state. */
  readonly dataDir: string;
  /**
   * The embedded PostgreSQL: `port` and `tcp` (it listens on 127.0.0.1:port
   * only when WAGATE_EMBEDDED_PG_PORT is set; otherwise on its Unix socket
   * alone), and `systemDir`, where, as root, its binaries and cluster go when
   * its OS user cannot reach the checkout or WAGATE_DATA_DIR.
   */
  readonly embeddedPostgres: { readonly port?: number; readonly tcp: boolean; readonly systemDir: string };
  /** Connections in the one pool of the process. */
  readonly dbPoolMax: number;
  /** The longest one ingest statement may run before PostgreSQL cancels it (the webhook then answers 503). */
  readonly ingestStatementTimeoutMs: number;
  /** Base URL of the Cloud API for sends and media. */
  readonly whatsappApiUrl: string;
  /** Key of `X-Hub-Signature-256` on `/webhooks/whatsapp`. */
  readonly whatsappAppSecret: string | null;
  /** Token of the subscription handshake. */
  readonly whatsappVerifyToken: string | null;
  /** Bearer key with rights over every tenant. */
  readonly adminKey: string | null;
  /** 32 bytes that encrypt channel access tokens and model keys at rest. */
  readonly secretKey: Buffer;
  /** A second key that decrypts but never encrypts (WAGATE_SECRET_KEY_PREVIOUS): for rotating the secret key without downtime. */
  readonly previousSecretKey: Buffer | null;
  /** How long a dashboard session lasts from sign-in, in hours (WAGATE_SESSION_HOURS). */
  readonly sessionHours: number;
  /** The default model of tenants whose agent is `openai`. */
  readonly openai: { readonly baseUrl: string; readonly apiKey: string | null; readonly model: string };
  /** Models a tenant may choose on the operator's OPENAI_API_KEY unless the admin gives it a list of its own. */
  readonly allowedModels: readonly string[];
  /** Agent turns running at once, across all tenants. */
  readonly maxInflight: number;
  /** How long running turns may finish after SIGTERM. */
  readonly shutdownGraceMs: number;
  readonly logLevel: string;
  /** Destinations a tenant-set URL may reach although private, and by http (WAGATE_EGRESS_ALLOW). */
  readonly egressAllow: readonly EgressRule[];
  /** Sandbox mode: embedded database, demo tenant, built-in Cloud API simulator. */
  readonly sandbox: boolean;
  /** The HTTP server's limits, allowed hosts and trusted proxies. */
  readonly http: HttpConfig;
  /** What `/metrics` exposes and who may read it. */
  readonly metrics: MetricsConfig;
  /** Inbound media: where files go, the lane's size, how long a turn waits (docs/media.md). */
  readonly media: MediaConfig;
}

/** The inbound media settings (docs/media.md, "Settings"). */
export interface MediaConfig {
  /** The default transcription model of tenants that set none (OPENAI_TRANSCRIPTION_MODEL); null: no transcription. */
  readonly transcriptionModel: string | null;
  /**
   * The transcription models any tenant may choose on the operator's key
   * (WAGATE_ALLOWED_TRANSCRIPTION_MODELS; default: OPENAI_TRANSCRIPTION_MODEL
   * alone, or none). The default model is always allowed.
   */
  readonly allowedTranscriptionModels: readonly string[];
  /** Media messages fetched and understood at once, per process (WAGATE_MEDIA_CONCURRENCY). */
  readonly concurrency: number;
  /** How long a turn with a media message waits for it (WAGATE_MEDIA_WAIT_MS). */
  readonly waitMs: number;
  /** An S3-compatible bucket (WAGATE_MEDIA_S3_BUCKET …); null: files under WAGATE_DATA_DIR/media. */
  readonly s3: { readonly bucket: string; readonly region: string; readonly endpoint: string | null; readonly prefix: string } | null;
}

/** The metrics settings (docs/operations.md, "Metrics"). */
export interface MetricsConfig {
  /**
   * A read-only bearer key for `/metrics` and `/performance-metrics`
   * (WAGATE_METRICS_KEY), so that Prometheus need not hold the admin key.
   * It opens nothing else: every other route answers it 401. Null: only the
   * admin key reads the metrics.
   */
  readonly key: string | null;
  /** Give the turn histograms a `tenant` label (WAGATE_METRICS_TENANT_HISTOGRAMS; default false: one global series each). */
  readonly tenantHistograms: boolean;
}

/**
 * Thrown when variables are missing or invalid: one problem per variable, each
 * one line naming it (`problems`); the message is those lines.
 */
export class ConfigError extends Error {
  readonly code = 'invalid_config';
  readonly problems: readonly string[];
  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : [...problems];
    super(list.join('\n'));
    this.name = 'ConfigError';
    this.problems = list;
  }
}

const intIn = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be between ${min} and ${max}`);

/** A parse that throws becomes the variable's one-line issue. */
function orIssue<T>(parse: (v: string | undefined) => T) {
  return (v: string | undefined, ctx: z.RefinementCtx): T => {
    try {
      return parse(v);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
      return z.NEVER;
    }
  };
}

const url = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).transform((u) => u.replace(/\/+$/, ''));

const modelList = z
  .string()
  .transform((v) => v.split(',').map((m) => m.trim()))
  .refine((ms) => ms.every((m) => m.length > 0 && m.length <= 200), 'must be a comma-separated list of model names');

const bool = z.enum(['true', 'false', '1', '0'], { error: 'must be true or false' }).transform((v) => v === 'true' || v === '1');

const schema = z.object({
  PORT: intIn(0, 65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATABASE_DIRECT_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  DATABASE_PREPARED_STATEMENTS: bool.default(true),
  WAGATE_DATA_DIR: z.string().min(1).default('./data'),
  WAGATE_EMBEDDED_PG_PORT: intIn(1, 65535).optional(),
  WAGATE_EMBEDDED_PG_DIR: z.string().regex(/^\//, 'must be an absolute path').default('/var/lib/wagate'),
  DB_POOL_MAX: intIn(1, 1000).default(10),
  WAGATE_INGEST_STATEMENT_TIMEOUT_MS: intIn(100, 600_000).default(10_000),
  WHATSAPP_API_URL: url.default('https://graph.facebook.com/v25.0'),
  WHATSAPP_APP_SECRET: z.string().min(1).optional(),
  WHATSAPP_VERIFY_TOKEN: z.string().min(1).optional(),
  WAGATE_ADMIN_KEY: z.string().refine(isStrongAdminKey, 'must carry at least 128 bits: 32 characters or more, at least 8 of them different (openssl rand -hex 24)').optional(),
  WAGATE_SECRET_KEY: z.string().optional(),
  WAGATE_SECRET_KEY_PREVIOUS: z.string().optional(),
  WAGATE_SESSION_HOURS: intIn(1, 720).default(12),
  OPENAI_BASE_URL: url.default('https://api.openai.com/v1'),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_MODEL: z.string().min(1).default('gpt-4o-mini'),
  WAGATE_ALLOWED_MODELS: modelList.optional(),
  WAGATE_ALLOWED_TRANSCRIPTION_MODELS: modelList.optional(),
  WAGATE_MAX_INFLIGHT: intIn(1, 1_000_000).default(2000),
  WAGATE_SHUTDOWN_GRACE_MS: intIn(0, 3_600_000).default(10_000),
  WAGATE_EGRESS_ALLOW: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  WAGATE_HTTP_REQUEST_TIMEOUT_MS: intIn(100, 3_600_000).default(30_000),
  WAGATE_HTTP_HEADERS_TIMEOUT_MS: intIn(100, 3_600_000).default(10_000),
  WAGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS: intIn(100, 3_600_000).default(72_000),
  WAGATE_MAX_CONNECTIONS: intIn(1, 1_000_000).default(10_000),
  WAGATE_WEBHOOK_INFLIGHT_BYTES: intIn(1024, 2 ** 40).default(64 * 1024 * 1024),
  WAGATE_ALLOWED_HOSTS: z.string().optional().transform(orIssue((v) => (v?.trim() ? parseAllowedHosts(v) : null))),
  WAGATE_PUBLIC_URL: url.optional(),
  WAGATE_TRUST_PROXY: z.string().optional().transform(orIssue((v) => parseTrustProxy(v ?? ''))),
  WAGATE_METRICS_KEY: z.string().refine(isStrongAdminKey, 'must carry at least 128 bits: 32 characters or more, at least 8 of them different (openssl rand -hex 24)').optional(),
  WAGATE_METRICS_TENANT_HISTOGRAMS: bool.default(false),
  OPENAI_TRANSCRIPTION_MODEL: z.string().min(1).max(200).optional(),
  WAGATE_MEDIA_CONCURRENCY: intIn(1, 256).default(16),
  WAGATE_MEDIA_WAIT_MS: intIn(0, 600_000).default(20_000),
  WAGATE_MEDIA_S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be an S3 bucket name').optional(),
  WAGATE_MEDIA_S3_REGION: z.string().min(1).default('us-east-1'),
  WAGATE_MEDIA_S3_ENDPOINT: url.optional(),
  WAGATE_MEDIA_S3_PREFIX: z.string().regex(/^([A-Za-z0-9._-]+\/)*$/, 'must be empty or path segments each ending in /').default(''),
});

const SECRET_VARIABLES = new Set(['DATABASE_URL', 'DATABASE_DIRECT_URL', 'WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN', 'WAGATE_ADMIN_KEY', 'WAGATE_SECRET_KEY', 'OPENAI_API_KEY', 'WAGATE_SECRET_KEY_PREVIOUS', 'WAGATE_METRICS_KEY']);

/** Parses 32 bytes given as 64 hex characters or base64; `name` is the variable named in the error. */
export function parseSecretKey(value: string, name = 'WAGATE_SECRET_KEY'): Buffer {
  const v = value.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(v) ? Buffer.from(v, 'hex') : Buffer.from(v, 'base64');
  if (key.length !== 32) throw new ConfigError(`${name}: must be 32 bytes, as 64 hex characters or base64`);
  return key;
}

/** Values the sandbox supplies when the operator gives none. */
export const SANDBOX_DEFAULTS = {
  WHATSAPP_APP_SECRET: 'sandbox-app-secret',
  WHATSAPP_VERIFY_TOKEN: 'sandbox-verify-token',
} as const;

/**
 * Reads the configuration. Outside sandbox mode the app secret, verify token,
 * admin key and secret key are required. Throws one ConfigError naming every
 * missing or invalid variable, so that one attempt shows them all.
 */
export function loadConfig(env: NodeJS.ProcessEnv, opts: { sandbox?: boolean } = {}): Config {
  const sandbox = opts.sandbox ?? false;
  // Every problem is reported at once, one line per variable, so that one start shows them all.
  const problems = new Map<string, string>();
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0] ?? 'environment');
      if (problems.has(name)) continue;
      const got = env[name];
      // Secrets and URLs that may carry a password are never echoed.
      const shown = got === undefined || SECRET_VARIABLES.has(name) ? '' : ` (got ${JSON.stringify(got)})`;
      problems.set(name, `${name}: ${issue.message}${shown}`);
    }
  }
  if (!sandbox) {
    for (const name of ['WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN', 'WAGATE_ADMIN_KEY', 'WAGATE_SECRET_KEY'] as const) {
      if (!env[name] && !problems.has(name)) problems.set(name, `${name}: required outside sandbox mode`);
    }
  }
  if (env.WAGATE_SECRET_KEY && !problems.has('WAGATE_SECRET_KEY')) {
    try {
      parseSecretKey(env.WAGATE_SECRET_KEY);
    } catch (err) {
      problems.set('WAGATE_SECRET_KEY', (err as Error).message);
    }
  }
  if (env.WAGATE_METRICS_KEY && env.WAGATE_METRICS_KEY === env.WAGATE_ADMIN_KEY && !problems.has('WAGATE_METRICS_KEY')) {
    // The point of the metrics key is that Prometheus does not hold the admin key.
    problems.set('WAGATE_METRICS_KEY', 'WAGATE_METRICS_KEY: must differ from WAGATE_ADMIN_KEY');
  }
  if (parsed.success) {
    for (const [name, problem] of poolerProblems(parsed.data, env)) if (!problems.has(name)) problems.set(name, problem);
  }
  if (problems.size > 0 || !parsed.success) throw new ConfigError([...problems.values()]);
  const e = parsed.data;
  const secretKey = e.WAGATE_SECRET_KEY ? parseSecretKey(e.WAGATE_SECRET_KEY) : Buffer.alloc(0);
  let egressAllow: EgressRule[];
  try {
    egressAllow = parseEgressAllow(e.WAGATE_EGRESS_ALLOW ?? '');
  } catch (err) {
    throw new ConfigError(`WAGATE_EGRESS_ALLOW: ${(err as Error).message}`);
  }
  const previousSecretKey = e.WAGATE_SECRET_KEY_PREVIOUS ? parseSecretKey(e.WAGATE_SECRET_KEY_PREVIOUS, 'WAGATE_SECRET_KEY_PREVIOUS') : null;
  return Object.freeze({
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL ?? null,
    databaseDirectUrl: e.DATABASE_DIRECT_URL ?? null,
    preparedStatements: e.DATABASE_PREPARED_STATEMENTS,
    dataDir: e.WAGATE_DATA_DIR,
    embeddedPostgres: Object.freeze({
      ...(e.WAGATE_EMBEDDED_PG_PORT === undefined ? {} : { port: e.WAGATE_EMBEDDED_PG_PORT }),
      tcp: e.WAGATE_EMBEDDED_PG_PORT !== undefined,
      systemDir: e.WAGATE_EMBEDDED_PG_DIR,
    }),
    dbPoolMax: e.DB_POOL_MAX,
    ingestStatementTimeoutMs: e.WAGATE_INGEST_STATEMENT_TIMEOUT_MS,
    whatsappApiUrl: e.WHATSAPP_API_URL,
    whatsappAppSecret: e.WHATSAPP_APP_SECRET ?? (sandbox ? SANDBOX_DEFAULTS.WHATSAPP_APP_SECRET : null),
    whatsappVerifyToken: e.WHATSAPP_VERIFY_TOKEN ?? (sandbox ? SANDBOX_DEFAULTS.WHATSAPP_VERIFY_TOKEN : null),
    adminKey: e.WAGATE_ADMIN_KEY ?? null,
    secretKey,
    previousSecretKey,
    sessionHours: e.WAGATE_SESSION_HOURS,
    openai: Object.freeze({ baseUrl: e.OPENAI_BASE_URL, apiKey: e.OPENAI_API_KEY ?? null, model: e.OPENAI_MODEL }),
    allowedModels: Object.freeze([...new Set(e.WAGATE_ALLOWED_MODELS ?? [e.OPENAI_MODEL])]),
    maxInflight: e.WAGATE_MAX_INFLIGHT,
    shutdownGraceMs: e.WAGATE_SHUTDOWN_GRACE_MS,
    logLevel: e.LOG_LEVEL,
    egressAllow: Object.freeze(egressAllow),
    sandbox,
    http: Object.freeze({
      requestTimeoutMs: e.WAGATE_HTTP_REQUEST_TIMEOUT_MS,
      headersTimeoutMs: e.WAGATE_HTTP_HEADERS_TIMEOUT_MS,
      keepAliveTimeoutMs: e.WAGATE_HTTP_KEEP_ALIVE_TIMEOUT_MS,
      maxConnections: e.WAGATE_MAX_CONNECTIONS,
      webhookInflightBytes: e.WAGATE_WEBHOOK_INFLIGHT_BYTES,
      allowedHosts: resolveAllowedHosts({ list: e.WAGATE_ALLOWED_HOSTS, publicUrl: e.WAGATE_PUBLIC_URL ?? null, sandbox, bindHost: e.HOST }),
      publicUrl: e.WAGATE_PUBLIC_URL ?? null,
      trustProxy: e.WAGATE_TRUST_PROXY,
    }),
    metrics: Object.freeze({ key: e.WAGATE_METRICS_KEY ?? null, tenantHistograms: e.WAGATE_METRICS_TENANT_HISTOGRAMS }),
    media: Object.freeze({
      transcriptionModel: e.OPENAI_TRANSCRIPTION_MODEL ?? null,
      allowedTranscriptionModels: Object.freeze([
        ...new Set([...(e.OPENAI_TRANSCRIPTION_MODEL ? [e.OPENAI_TRANSCRIPTION_MODEL] : []), ...(e.WAGATE_ALLOWED_TRANSCRIPTION_MODELS ?? [])]),
      ]),
      concurrency: e.WAGATE_MEDIA_CONCURRENCY,
      waitMs: e.WAGATE_MEDIA_WAIT_MS,
      s3: e.WAGATE_MEDIA_S3_BUCKET
        ? Object.freeze({ bucket: e.WAGATE_MEDIA_S3_BUCKET, region: e.WAGATE_MEDIA_S3_REGION, endpoint: e.WAGATE_MEDIA_S3_ENDPOINT ?? null, prefix: e.WAGATE_MEDIA_S3_PREFIX })
        : null,
    }),
  });
}

/**
 * The pooler settings that do not fit together, one line per variable. A
 * transaction-mode pooler lends a server connection per transaction, so what
 * lives in one session (LISTEN, the process lock, the migration lock) needs
 * the direct URL, and a session parameter (the ingest statement timeout)
 * cannot be set at all.
 */
function poolerProblems(e: z.infer<typeof schema>, env: NodeJS.ProcessEnv): [string, string][] {
  const out: [string, string][] = [];
  if (e.DATABASE_DIRECT_URL && !e.DATABASE_URL) {
    out.push(['DATABASE_DIRECT_URL', 'DATABASE_DIRECT_URL: only with DATABASE_URL (the embedded PostgreSQL is always reached directly)']);
  }
  if (!e.DATABASE_PREPARED_STATEMENTS) {
    if (!e.DATABASE_URL) {
      out.push(['DATABASE_PREPARED_STATEMENTS', 'DATABASE_PREPARED_STATEMENTS: false only with DATABASE_URL (a pooler in front of PostgreSQL); the embedded PostgreSQL has none']);
    } else if (!e.DATABASE_DIRECT_URL) {
      out.push([
        'DATABASE_DIRECT_URL',
        'DATABASE_DIRECT_URL: required with DATABASE_PREPARED_STATEMENTS=false: LISTEN, the process lock and migrations need a URL that reaches PostgreSQL without the pooler',
      ]);
    }
    if (env.WAGATE_INGEST_STATEMENT_TIMEOUT_MS !== undefined) {
      out.push([
        'WAGATE_INGEST_STATEMENT_TIMEOUT_MS',
        'WAGATE_INGEST_STATEMENT_TIMEOUT_MS: cannot be applied with DATABASE_PREPARED_STATEMENTS=false (a transaction-mode pooler keeps no session setting); set statement_timeout on the database role instead',
      ]);
    }
  }
  return out;
}
