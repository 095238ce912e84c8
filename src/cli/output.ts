/** Writes a created object to stdout as JSON: what scripts read. */
export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** Writes a line for the person at the terminal (progress, notes) to stderr, keeping stdout for results. */
export function note(line: string): void {
  process.stderr.write(line + '\n');
}
