import { readFileSync } from 'node:fs';

/** Which wagate and which Node.js run: the labels of `wagate_build_info`. */
export interface BuildInfo {
  readonly version: string;
  readonly nodeVersion: string;
}

let cached: BuildInfo | null = null;

/** The version in package.json and the running Node.js, read once per process (at start, never on a request). */
export function buildInfo(): BuildInfo {
  if (!cached) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    cached = Object.freeze({ version: pkg.version, nodeVersion: process.versions.node });
  }
  return cached;
}
