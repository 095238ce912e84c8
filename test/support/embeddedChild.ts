// Starts the embedded PostgreSQL on the data directory given as argv[2] and
// prints {"url":…}; then waits to be killed (SIGKILL leaves the server orphaned).
import { startEmbeddedPostgres } from '../../src/db/embedded.ts';

const server = await startEmbeddedPostgres(process.argv[2]);
console.log(JSON.stringify({ url: server.url }));
setInterval(() => {}, 1 << 30);
