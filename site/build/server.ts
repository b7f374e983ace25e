/**
 * A static file server for the built site on 127.0.0.1. It sends the two headers that make a
 * page cross-origin isolated (so tfjs can use wasm threads):
 *   Cross-Origin-Opener-Policy: same-origin
 *   Cross-Origin-Embedder-Policy: require-corp
 * Any static host needs the same two headers for threads; without them pages still work, on
 * one thread.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.bin': 'application/octet-stream',
  '.txt': 'text/plain; charset=utf-8',
};

const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

async function fileFor(
  root: string,
  urlPath: string,
): Promise<{ path: string; etag: string } | undefined> {
  const path = normalize(join(root, decodeURIComponent(urlPath)));
  if (path !== root && !path.startsWith(root + sep)) return undefined;
  const info = await stat(path).catch(() => undefined);
  if (info?.isFile())
    return { path, etag: `"${info.size.toString(36)}-${info.mtimeMs.toString(36)}"` };
  if (info?.isDirectory()) return fileFor(root, join(urlPath, 'index.html'));
  return undefined;
}

/**
 * Serves `root` (the built site) on 127.0.0.1:`port` (0: any free port) under the URL path
 * `prefix` (the tests use a sub-path, as a project page on a static host would). Browsers
 * revalidate each file (ETag) and reuse their cached copy while it is unchanged.
 */
export async function serveSite(root: string, port = 0, prefix = '/'): Promise<RunningServer> {
  const server: Server = createServer((request, response) => {
    // The request target is a path: parse it as one (a target like '//' is not a URL).
    const urlPath = new URL(`http://localhost/${(request.url ?? '/').replace(/^\/+/, '')}`)
      .pathname;
    const inside = urlPath.startsWith(prefix) ? urlPath.slice(prefix.length - 1) : undefined;
    void (inside === undefined ? Promise.resolve(undefined) : fileFor(root, inside)).then(
      (file) => {
        const headers = { ...ISOLATION_HEADERS, 'Cache-Control': 'no-cache' };
        if (file === undefined) {
          response.writeHead(404, { ...headers, 'Content-Type': TYPES['.txt'] });
          response.end(`not found: ${urlPath}\n`);
          return;
        }
        if (request.headers['if-none-match'] === file.etag) {
          response.writeHead(304, { ...headers, ETag: file.etag });
          response.end();
          return;
        }
        const type = TYPES[extname(file.path)] ?? 'application/octet-stream';
        response.writeHead(200, { ...headers, 'Content-Type': type, ETag: file.etag });
        createReadStream(file.path).pipe(response);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: actual } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${actual}${prefix}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
