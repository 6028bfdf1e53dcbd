// The floor of measure 2, in a process of its own like the daemon: a trivial node:http server that
// answers every GET with one fixed body (a copy of a real /metrics or /status answer) and the
// daemon's headers. Run by scrape.ts as `node peer-server.mjs BODY_FILE CONTENT_TYPE`; prints its
// port once listening, on 127.0.0.1 only; ends on SIGTERM or when its stdin closes.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const [file, type] = process.argv.slice(2);
const body = readFileSync(file);
const server = createServer((request, response) => {
  response.writeHead(200, {
    'Content-Type': type,
    'Content-Length': body.length,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  response.end(body);
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
const stop = () => {
  server.close();
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.stdin.on('end', stop).resume();
