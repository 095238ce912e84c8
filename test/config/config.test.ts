import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseSecretKey, SANDBOX_DEFAULTS } from '../../src/config/config.ts';

const HEX_KEY = '0123456789abcdef'.repeat(4);

/** The variables required outside sandbox mode, valid. */
const REQUIRED = {
  WHATSAPP_APP_SECRET: 'app-secret',
  WHATSAPP_VERIFY_TOKEN: 'verify-token',
  WAGATE_ADMIN_KEY: 'admin-key-0123456789abcdefghijklmnop',
  WAGATE_SECRET_KEY: HEX_KEY,
};

/** The ConfigError loadConfig throws for this environment. */
function configError(env: Record<string, string>, opts: { sandbox?: boolean } = {}): ConfigError {
  try {
    loadConfig({ ...REQUIRED, ...env }, opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('invalid_config');
    return err as ConfigError;
  }
  throw new Error(`loadConfig accepted ${JSON.stringify(env)}`);
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(REQUIRED);
    expect(c).toMatchObject({
      port: 3000,
      host: '127.0.0.1',
      databaseUrl: null,
      dataDir: './data',
      embeddedPostgres: { tcp: false, systemDir: '/var/lib/wagate' },
      dbPoolMax: 10,
      whatsappApiUrl: 'https://graph.facebook.com/v25.0',
      openai: { baseUrl: 'https://api.openai.com/v1', apiKey: null, model: 'gpt-4o-mini' },
      maxInflight: 2000,
      shutdownGraceMs: 10_000,
      logLevel: 'info',
      sandbox: false,
    });
  });

  it('reads every variable it is given', () => {
    const c = loadConfig({
      ...REQUIRED,
      PORT: '8080',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgresql://u:p@db:5432/wagate',
      WAGATE_DATA_DIR: '/var/lib/wagate',
      WAGATE_EMBEDDED_PG_PORT: '5433',
      WAGATE_EMBEDDED_PG_DIR: '/srv/wagate-pg',
      DB_POOL_MAX: '25',
      WHATSAPP_API_URL: 'http://127.0.0.1:9090/v25.0/',
      OPENAI_BASE_URL: 'http://localhost:11434/v1',
      OPENAI_API_KEY: 'sk-test',
      OPENAI_MODEL: 'llama3',
      WAGATE_MAX_INFLIGHT: '50',
      WAGATE_SHUTDOWN_GRACE_MS: '0',
      LOG_LEVEL: 'debug',
      UNRELATED_VARIABLE: 'ignored',
    });
    expect(c).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      databaseUrl: 'postgresql://u:p@db:5432/wagate',
      dataDir: '/var/lib/wagate',
      embeddedPostgres: { port: 5433, tcp: true, systemDir: '/srv/wagate-pg' },
      dbPoolMax: 25,
      whatsappApiUrl: 'http://127.0.0.1:9090/v25.0',
      whatsappAppSecret: 'app-secret',
      whatsappVerifyToken: 'verify-token',
      adminKey: 'admin-key-0123456789abcdefghijklmnop',
      openai: { baseUrl: 'http://localhost:11434/v1', apiKey: 'sk-test', model: 'llama3' },
      maxInflight: 50,
      shutdownGraceMs: 0,
      logLevel: 'debug',
    });
  });

  it('returns a frozen object', () => {
    const c = loadConfig(REQUIRED);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.openai)).toBe(true);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '65536'],
    ['PORT', '-1'],
    ['HOST', ''],
    ['DATABASE_URL', 'mysql://db/wagate'],
    ['WAGATE_DATA_DIR', ''],
    ['WAGATE_EMBEDDED_PG_PORT', '0'],
    ['WAGATE_EMBEDDED_PG_PORT', 'yes'],
    ['WAGATE_EMBEDDED_PG_DIR', 'relative/dir'],
    ['DB_POOL_MAX', '0'],
    ['DB_POOL_MAX', '1.5'],
    ['WHATSAPP_API_URL', 'ftp://example.com'],
    ['WHATSAPP_API_URL', 'not a url'],
    ['WHATSAPP_APP_SECRET', ''],
    ['WHATSAPP_VERIFY_TOKEN', ''],
    ['WAGATE_ADMIN_KEY', 'short'],
    ['OPENAI_BASE_URL', 'localhost:11434'],
    ['OPENAI_MODEL', ''],
    ['WAGATE_MAX_INFLIGHT', '0'],
    ['WAGATE_SHUTDOWN_GRACE_MS', '3600001'],
    ['LOG_LEVEL', 'loud'],
    ['WAGATE_SECRET_KEY', 'tooshort'],
    ['WAGATE_SECRET_KEY_PREVIOUS', 'tooshort'],
    ['WAGATE_SESSION_HOURS', '0'],
    ['WAGATE_SESSION_HOURS', '721'],
    ['DATABASE_DIRECT_URL', 'mysql://db/wagate'],
    ['DATABASE_PREPARED_STATEMENTS', 'no'],
  ])('refuses %s=%j with one line naming it', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.message.startsWith(`${name}: `)).toBe(true);
    expect(err.message).not.toContain('\n');
    expect(err.message.length).toBeGreaterThan(name.length + 2);
  });

  it.each(['WHATSAPP_APP_SECRET', 'WHATSAPP_VERIFY_TOKEN', 'WAGATE_ADMIN_KEY', 'WAGATE_SECRET_KEY'])(
    'requires %s outside sandbox mode',
    (name) => {
      const env: Record<string, string> = { ...REQUIRED };
      delete env[name];
      let err: unknown;
      try {
        loadConfig(env);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toBe(`${name}: required outside sandbox mode`);
    },
  );

  it('names every invalid or missing variable at once, one line each', () => {
    let err: unknown;
    try {
      loadConfig({ PORT: 'x', DB_POOL_MAX: '0', WAGATE_SECRET_KEY: 'abcd', WHATSAPP_VERIFY_TOKEN: 'token' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'PORT: must be a whole number (got "x")',
      'DB_POOL_MAX: must be between 1 and 1000 (got "0")',
      'WHATSAPP_APP_SECRET: required outside sandbox mode',
      'WAGATE_ADMIN_KEY: required outside sandbox mode',
      'WAGATE_SECRET_KEY: must be 32 bytes, as 64 hex characters or base64',
    ]);
    expect((err as ConfigError).message.split('\n')).toEqual((err as ConfigError).problems);
  });

  it('reads the media settings: the filesystem by default, an S3-compatible bucket when named', () => {
    expect(loadConfig(REQUIRED).media).toEqual({ transcriptionModel: null, allowedTranscriptionModels: [], concurrency: 16, waitMs: 20_000, s3: null });
    const c = loadConfig({
      ...REQUIRED,
      OPENAI_TRANSCRIPTION_MODEL: 'whisper-1',
      WAGATE_MEDIA_CONCURRENCY: '32',
      WAGATE_MEDIA_WAIT_MS: '5000',
      WAGATE_MEDIA_S3_BUCKET: 'acme-media',
      WAGATE_MEDIA_S3_ENDPOINT: 'https://minio.internal:9000/',
      WAGATE_MEDIA_S3_PREFIX: 'wagate/',
    });
    expect(c.media).toEqual({
      transcriptionModel: 'whisper-1',
      allowedTranscriptionModels: ['whisper-1'],
      concurrency: 32, waitMs: 5000, s3: { bucket: 'acme-media', region: 'us-east-1', endpoint: 'https://minio.internal:9000', prefix: 'wagate/' } });
    expect(configError({ WAGATE_MEDIA_S3_BUCKET: 'Not A Bucket', WAGATE_MEDIA_S3_PREFIX: '../x', WAGATE_MEDIA_CONCURRENCY: '0' }).problems).toEqual([
      'WAGATE_MEDIA_CONCURRENCY: must be between 1 and 256 (got "0")',
      'WAGATE_MEDIA_S3_BUCKET: must be an S3 bucket name (got "Not A Bucket")',
      'WAGATE_MEDIA_S3_PREFIX: must be empty or path segments each ending in / (got "../x")',
    ]);
  });

  it('allowed transcription models: OPENAI_TRANSCRIPTION_MODEL always, and WAGATE_ALLOWED_TRANSCRIPTION_MODELS', () => {
    const c = loadConfig({ ...REQUIRED, OPENAI_TRANSCRIPTION_MODEL: 'whisper-1', WAGATE_ALLOWED_TRANSCRIPTION_MODELS: 'gpt-4o-mini-transcribe, whisper-1' });
    expect(c.media.allowedTranscriptionModels).toEqual(['whisper-1', 'gpt-4o-mini-transcribe']);
    expect(Object.isFrozen(c.media.allowedTranscriptionModels)).toBe(true);
    expect(loadConfig({ ...REQUIRED, WAGATE_ALLOWED_TRANSCRIPTION_MODELS: 'gpt-4o-transcribe' }).media.allowedTranscriptionModels).toEqual(['gpt-4o-transcribe']);
  });

  it('relaxes the required variables in sandbox mode, with its own webhook secrets', () => {
    const c = loadConfig({}, { sandbox: true });
    expect(c.sandbox).toBe(true);
    expect(c.whatsappAppSecret).toBe(SANDBOX_DEFAULTS.WHATSAPP_APP_SECRET);
    expect(c.whatsappVerifyToken).toBe(SANDBOX_DEFAULTS.WHATSAPP_VERIFY_TOKEN);
    expect(c.adminKey).toBeNull();
  });

  it('keeps what the operator gives in sandbox mode', () => {
    const c = loadConfig(REQUIRED, { sandbox: true });
    expect(c.whatsappAppSecret).toBe('app-secret');
    expect(c.adminKey).toBe('admin-key-0123456789abcdefghijklmnop');
    expect(c.secretKey.toString('hex')).toBe(HEX_KEY);
  });

  it('still validates the variables that are set in sandbox mode', () => {
    expect(configError({ PORT: 'x' }, { sandbox: true }).message).toMatch(/^PORT: /);
    expect(configError({ WAGATE_SECRET_KEY: 'abcd' }, { sandbox: true }).message).toMatch(/^WAGATE_SECRET_KEY: /);
  });

  // A mistyped secret (the admin key, a DATABASE_URL with its password) must not end up in logs.
  it('does not print the value of a refused secret', () => {
    expect(configError({ WAGATE_ADMIN_KEY: 'hunter2-secret' }).message).not.toContain('hunter2-secret');
    expect(configError({ DATABASE_URL: 'mysql://u:pa55word@db/x' }).message).not.toContain('pa55word');
  });
});

describe('DATABASE_DIRECT_URL and DATABASE_PREPARED_STATEMENTS (a transaction-mode pooler)', () => {
  const POOLER = 'postgres://wagate:pw@pgbouncer:6432/wagate';
  const DIRECT = 'postgres://wagate:pw@db:5432/wagate';

  it('default to the pool URL for everything, with prepared statements', () => {
    const c = loadConfig({ ...REQUIRED, DATABASE_URL: DIRECT });
    expect(c).toMatchObject({ databaseUrl: DIRECT, databaseDirectUrl: null, preparedStatements: true, ingestStatementTimeoutMs: 10_000 });
  });

  it('read a pooler URL, a direct URL and prepared statements off', () => {
    const c = loadConfig({ ...REQUIRED, DATABASE_URL: POOLER, DATABASE_DIRECT_URL: DIRECT, DATABASE_PREPARED_STATEMENTS: 'false' });
    expect(c).toMatchObject({ databaseUrl: POOLER, databaseDirectUrl: DIRECT, preparedStatements: false });
  });

  it('refuse prepared statements off without a direct URL, in one line that says why', () => {
    const err = configError({ DATABASE_URL: POOLER, DATABASE_PREPARED_STATEMENTS: 'false' });
    expect(err.problems).toEqual([
      'DATABASE_DIRECT_URL: required with DATABASE_PREPARED_STATEMENTS=false: LISTEN, the process lock and migrations need a URL that reaches PostgreSQL without the pooler',
    ]);
  });

  it('refuse a direct URL or prepared statements off without DATABASE_URL (the embedded server has no pooler)', () => {
    expect(configError({ DATABASE_DIRECT_URL: DIRECT }).problems).toEqual([
      'DATABASE_DIRECT_URL: only with DATABASE_URL (the embedded PostgreSQL is always reached directly)',
    ]);
    expect(configError({ DATABASE_PREPARED_STATEMENTS: 'false' }).message).toMatch(/^DATABASE_PREPARED_STATEMENTS: false only with DATABASE_URL/);
  });

  it('refuse an ingest statement timeout that a pooler could not apply', () => {
    const err = configError({ DATABASE_URL: POOLER, DATABASE_DIRECT_URL: DIRECT, DATABASE_PREPARED_STATEMENTS: 'false', WAGATE_INGEST_STATEMENT_TIMEOUT_MS: '5000' });
    expect(err.problems).toHaveLength(1);
    expect(err.message).toMatch(/^WAGATE_INGEST_STATEMENT_TIMEOUT_MS: cannot be applied with DATABASE_PREPARED_STATEMENTS=false/);
  });

  it('never print the direct URL, which carries a password', () => {
    expect(configError({ DATABASE_URL: POOLER, DATABASE_DIRECT_URL: 'mysql://u:pa55word@db/x' }).message).not.toContain('pa55word');
  });
});

describe('WAGATE_SECRET_KEY', () => {
  const bytes = Buffer.from(Array.from({ length: 32 }, (_, i) => i * 7));

  it('takes 32 bytes as 64 hex characters, in either case', () => {
    expect(parseSecretKey(bytes.toString('hex'))).toEqual(bytes);
    expect(parseSecretKey(bytes.toString('hex').toUpperCase())).toEqual(bytes);
    expect(loadConfig({ ...REQUIRED, WAGATE_SECRET_KEY: bytes.toString('hex') }).secretKey).toEqual(bytes);
  });

  it('takes 32 bytes as base64, padded or not, or base64url', () => {
    expect(parseSecretKey(bytes.toString('base64'))).toEqual(bytes);
    expect(parseSecretKey(bytes.toString('base64').replace(/=+$/, ''))).toEqual(bytes);
    expect(parseSecretKey(bytes.toString('base64url'))).toEqual(bytes);
    expect(loadConfig({ ...REQUIRED, WAGATE_SECRET_KEY: bytes.toString('base64') }).secretKey).toEqual(bytes);
  });

  it('ignores surrounding whitespace', () => {
    expect(parseSecretKey(`  ${bytes.toString('hex')}\n`)).toEqual(bytes);
  });

  it.each([
    ['16 bytes of hex', Buffer.alloc(16, 1).toString('hex')],
    ['33 bytes of hex', Buffer.alloc(33, 1).toString('hex')],
    ['31 bytes of base64', Buffer.alloc(31, 1).toString('base64')],
    ['48 bytes of base64', Buffer.alloc(48, 1).toString('base64')],
    ['a passphrase', 'correct horse battery staple'],
    ['nothing', ''],
  ])('refuses %s with one line naming the variable', (_what, value) => {
    expect(() => parseSecretKey(value)).toThrow(ConfigError);
    expect(() => parseSecretKey(value)).toThrow(/^WAGATE_SECRET_KEY: must be 32 bytes/);
  });
});

describe('WAGATE_ALLOWED_MODELS', () => {
  it("defaults to OPENAI_MODEL alone, following it", () => {
    expect(loadConfig(REQUIRED).allowedModels).toEqual(['gpt-4o-mini']);
    expect(loadConfig({ ...REQUIRED, OPENAI_MODEL: 'llama3' }).allowedModels).toEqual(['llama3']);
  });

  it('reads a comma-separated list, trimmed and without repeats, frozen', () => {
    const c = loadConfig({ ...REQUIRED, WAGATE_ALLOWED_MODELS: ' gpt-4o-mini, gpt-4o ,gpt-4o' });
    expect(c.allowedModels).toEqual(['gpt-4o-mini', 'gpt-4o']);
    expect(Object.isFrozen(c.allowedModels)).toBe(true);
  });

  it.each(['', 'gpt-4o,,gpt-4o-mini', 'gpt-4o,', 'x'.repeat(201)])('refuses %j with one line naming it', (value) => {
    const err = configError({ WAGATE_ALLOWED_MODELS: value });
    expect(err.message).toMatch(/^WAGATE_ALLOWED_MODELS: must be a comma-separated list of model names/);
    expect(err.message).not.toContain('\n');
  });
});

describe('WAGATE_SECRET_KEY_PREVIOUS and WAGATE_SESSION_HOURS', () => {
  it('reads the previous key, never echoes it, and defaults sessions to 12 hours', () => {
    const previous = Buffer.alloc(32, 7);
    const c = loadConfig({ ...REQUIRED, WAGATE_SECRET_KEY_PREVIOUS: previous.toString('hex') });
    expect(c.previousSecretKey).toEqual(previous);
    expect(c.sessionHours).toBe(12);
    expect(loadConfig(REQUIRED).previousSecretKey).toBeNull();
    expect(loadConfig({ ...REQUIRED, WAGATE_SESSION_HOURS: '1' }).sessionHours).toBe(1);
    expect(configError({ WAGATE_SECRET_KEY_PREVIOUS: 'secret-ish' }).message).not.toContain('secret-ish');
  });
});
