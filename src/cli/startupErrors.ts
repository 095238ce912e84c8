import path from 'node:path';
import { isUnavailable } from '../db/db.ts';

/** What the classification needs of the configuration: read leniently, as it may be what failed. */
export interface StartupSettings {
  readonly databaseUrlSet: boolean;
  /** DATABASE_DIRECT_URL is set too: a failure may be either URL's (the error names the address). */
  readonly directUrlSet?: boolean;
  readonly dataDir: string;
  readonly host: string;
}

type SystemError = NodeJS.ErrnoException & { address?: string; port?: number; hostname?: string };

const FS_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOTDIR', 'EEXIST', 'ENOSPC', 'EISDIR', 'ELOOP']);

/**
 * Turns the failures a start commonly meets into one line that names the
 * cause and the setting to change; null for anything else (its own message
 * is then the best line there is).
 */
export function describeStartupFailure(err: unknown, settings: StartupSettings): string | null {
  if (!(err instanceof Error)) return null;
  const e = err as SystemError;
  if (e.syscall === 'listen' || (e.code === 'ENOTFOUND' && e.hostname === settings.host)) {
    const where = e.port === undefined ? settings.host : `${e.address ?? settings.host}:${e.port}`;
    switch (e.code) {
      case 'EADDRINUSE':
        return `cannot listen on ${where}: the port is in use by another process (set PORT, or HOST, to a free one)`;
      case 'EACCES':
        return `cannot listen on ${where}: permission denied, ports below 1024 need privileges (set PORT to 1024 or above)`;
      case 'EADDRNOTAVAIL':
        return `cannot listen on ${where}: not an address of this machine (set HOST)`;
      case 'ENOTFOUND':
        return `cannot listen on ${settings.host}: the name does not resolve (set HOST)`;
      default:
        return `cannot listen on ${where}: ${e.code ?? e.message} (check PORT and HOST)`;
    }
  }
  const pgCode = typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : null;
  if (isUnavailable(err) || e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN' || (pgCode && (pgCode.startsWith('28') || pgCode === '3D000'))) {
    const urls = settings.directUrlSet ? 'DATABASE_URL or DATABASE_DIRECT_URL' : 'DATABASE_URL';
    const where = settings.databaseUrlSet ? urls : 'the embedded PostgreSQL';
    const cause = err.message.replace(/^database unavailable: /, '');
    const verb = pgCode && (pgCode.startsWith('28') || pgCode === '3D000') ? 'the database refused the connection' : 'cannot reach the database';
    return `${verb} (${where}): ${cause}${settings.databaseUrlSet ? ` (check ${urls.replace(' or ', ' and ')})` : ''}`;
  }
  if (e.code && FS_CODES.has(e.code) && typeof e.path === 'string') {
    const dir = path.resolve(settings.dataDir);
    const p = path.resolve(e.path);
    if (p === dir || p.startsWith(dir + path.sep)) {
      return `WAGATE_DATA_DIR ${dir} is not writable (${e.code} on ${p}): set WAGATE_DATA_DIR to a folder this user can write`;
    }
  }
  return null;
}
