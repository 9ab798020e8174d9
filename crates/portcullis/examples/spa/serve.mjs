// A tiny static file server for the example: index.html, config.json and the bundle in
// dist/ (build it first: `npm run build`). Loopback only.
//
//   node serve.mjs            # http://localhost:5173/ (PORT and HOST override)
//
// `serve()` is also used by the browser test (crates/portcullis/tests/browser/spa.mjs),
// which passes its own config.json.
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
  ".json": "application/json",
};
const FILES = new Set(["/index.html", "/config.json", "/dist/app.js", "/dist/app.js.map"]);

/**
 * Serves the example on `host:port` (port 0: any free port). `bundleDir` holds app.js
 * (default ./dist), `config` replaces config.json when given. Resolves to the server
 * and its port.
 */
export async function serve({ host = "127.0.0.1", port = 5173, bundleDir, config } = {}) {
  const server = createServer(async (request, response) => {
    const path = new URL(request.url, "http://x").pathname;
    const file = path === "/" ? "/index.html" : path;
    if (request.method !== "GET" || !FILES.has(file)) {
      response.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
      return;
    }
    try {
      let body;
      if (file === "/config.json" && config) {
        body = JSON.stringify(config);
      } else if (file.startsWith("/dist/") && bundleDir) {
        body = await readFile(join(bundleDir, file.slice("/dist/".length)));
      } else {
        body = await readFile(join(HERE, file));
      }
      response
        .writeHead(200, { "content-type": TYPES[extname(file)], "cache-control": "no-store" })
        .end(body);
    } catch (error) {
      response.writeHead(500, { "content-type": "text/plain" }).end(`${error.message}\n`);
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, resolve);
  });
  return { server, port: server.address().port };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 5173);
  const host = process.env.HOST ?? "127.0.0.1";
  await serve({ host, port });
  console.log(`The example is at http://localhost:${port}/ (serving ${HERE}; Ctrl-C stops)`);
}
