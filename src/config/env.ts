import { existsSync } from 'node:fs';
import { parse } from 'dotenv';
import { readFileSync } from 'node:fs';

/**
 * The process environment, with a `.env` file in the working directory read
 * first if present (variables already set win).
 */
export function loadEnv(): NodeJS.ProcessEnv {
  const file = '.env';
  if (!existsSync(file)) return process.env;
  return { ...parse(readFileSync(file)), ...process.env };
}
