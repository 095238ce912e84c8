import pg from 'pg';

/** The role the gateway connects as: it owns its database and is not a superuser. */
export const APP_ROLE = 'wagate';
/** The gateway's database on the embedded server. */
export const APP_DATABASE = 'wagate';
/** The cluster's bootstrap superuser, used only to set up the role and database at start. */
export const SUPERUSER = 'postgres';
/** The superuser's password on clusters made before each data directory had passwords of its own. */
export const LEGACY_PASSWORD = 'wagate';

export interface Credentials {
  /** The bootstrap superuser's password. */
  readonly superuser: string;
  /** The application role's password. */
  readonly password: string;
}

export interface BootstrapTarget {
  readonly socketDir: string;
  readonly port: number;
  readonly credentials: Credentials;
  /** Give the application role CREATEDB (tests and the benchmark make databases of their own). */
  readonly createDatabases: boolean;
}

const AUTH_FAILED = '28P01';
const IN_USE = '55006';

/**
 * Brings a running cluster to the shape the gateway expects, idempotently, on
 * every start: the superuser's password is the one in the credentials file;
 * the role `wagate` (LOGIN, not a superuser) exists with its password; the
 * database `wagate` exists and `wagate` owns it and every table, sequence,
 * view, function and type in its `public` schema.
 *
 * A cluster made by an older wagate (superuser password `wagate`, the
 * gateway's tables in the database `postgres`) is upgraded in place: its
 * database `postgres` is renamed `wagate` (no copy; the rows stay where they
 * are), a new empty `postgres` is made for tools, and ownership moves to the
 * role. Each step checks the state first, so a start interrupted half-way
 * finishes the upgrade at the next one.
 */
export async function bootstrapCluster(t: BootstrapTarget): Promise<{ upgraded: boolean }> {
  const { client: su, legacy } = await connectSuperuser(t, 'template1');
  let upgraded = legacy;
  try {
    if (legacy) await su.query(`ALTER ROLE ${SUPERUSER} PASSWORD ${su.escapeLiteral(t.credentials.superuser)}`);
    const attrs = `LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS ${t.createDatabases ? 'CREATEDB' : 'NOCREATEDB'} PASSWORD ${su.escapeLiteral(t.credentials.password)}`;
    const role = await su.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [APP_ROLE]);
    await su.query(`${role.rowCount ? 'ALTER' : 'CREATE'} ROLE ${APP_ROLE} WITH ${attrs}`);
    const databases = new Set((await su.query<{ datname: string }>('SELECT datname FROM pg_database')).rows.map((r) => r.datname));
    if (!databases.has(APP_DATABASE)) {
      if (databases.has('postgres') && (await holdsGatewayTables(t))) {
        await retryWhileInUse(() => su.query(`ALTER DATABASE postgres RENAME TO ${APP_DATABASE}`));
        databases.delete('postgres');
        upgraded = true;
      } else {
        await su.query(`CREATE DATABASE ${APP_DATABASE} OWNER ${APP_ROLE} TEMPLATE template0`);
      }
    }
    if (!databases.has('postgres')) await su.query('CREATE DATABASE postgres TEMPLATE template0');
    await su.query(`ALTER DATABASE ${APP_DATABASE} OWNER TO ${APP_ROLE}`);
  } finally {
    await su.end();
  }
  const db = (await connectSuperuser(t, APP_DATABASE)).client;
  try {
    await db.query(OWN_EVERYTHING);
  } finally {
    await db.end();
  }
  return { upgraded };
}

/** Connects as the superuser with the file's password, or with the legacy one on a cluster not yet upgraded. */
async function connectSuperuser(t: BootstrapTarget, database: string): Promise<{ client: pg.Client; legacy: boolean }> {
  for (const [password, legacy] of [[t.credentials.superuser, false], [LEGACY_PASSWORD, true]] as const) {
    const client = new pg.Client({ host: t.socketDir, port: t.port, user: SUPERUSER, password, database });
    try {
      await client.connect();
      return { client, legacy };
    } catch (err) {
      await client.end().catch(() => {});
      if ((err as { code?: string }).code !== AUTH_FAILED || legacy) {
        if ((err as { code?: string }).code === AUTH_FAILED) {
          throw new Error(`the embedded PostgreSQL refused the superuser password of its credentials file: restore that file from a backup of the data directory`, { cause: err });
        }
        throw err;
      }
    }
  }
  throw new Error('unreachable');
}

/** Whether the database `postgres` holds the gateway's tables (a cluster from before the application role). */
async function holdsGatewayTables(t: BootstrapTarget): Promise<boolean> {
  const { client } = await connectSuperuser(t, 'postgres');
  try {
    const { rows } = await client.query<{ found: boolean }>("SELECT to_regclass('public.schema_migrations') IS NOT NULL AS found");
    return rows[0].found;
  } finally {
    await client.end();
  }
}

// A backend that just closed may still be counted as connected for a moment.
async function retryWhileInUse<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if ((err as { code?: string }).code !== IN_USE || attempt >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

// Sequences that belong to a column (identity, serial) follow their table and
// cannot be given away alone; partitions are tables of their own.
const OWN_EVERYTHING = `DO $$
DECLARE r record;
BEGIN
  FOR r IN
    SELECT c.oid::regclass AS obj, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relowner <> '${APP_ROLE}'::regrole AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT (c.relkind = 'S' AND EXISTS (
        SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO ${APP_ROLE}',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, r.obj);
  END LOOP;
  FOR r IN
    SELECT p.oid::regprocedure AS obj, p.prokind FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
    WHERE n.nspname = 'public' AND p.proowner <> '${APP_ROLE}'::regrole AND p.prokind IN ('f', 'p')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO ${APP_ROLE}', CASE r.prokind WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END, r.obj);
  END LOOP;
  FOR r IN
    SELECT t.oid::regtype AS obj, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
    WHERE n.nspname = 'public' AND t.typowner <> '${APP_ROLE}'::regrole AND t.typtype IN ('e', 'd', 'r')
  LOOP
    EXECUTE format('ALTER %s %s OWNER TO ${APP_ROLE}', CASE r.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, r.obj);
  END LOOP;
END $$`;
