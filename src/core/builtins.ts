/**
 * The Node built-ins the core uses at run time, fetched with `process.getBuiltinModule` instead of
 * an ES-module `import`.
 *
 * Why: importing a built-in from an ES module builds the module's ES facade, and building it reads
 * every export once, lazy getters included. Some getters load whole subsystems. On Node 22 to 26,
 * `http.WebSocket` loads the bundled undici with tls, http2, zlib and worker_threads: about 2.2 to
 * 2.7 MB of V8 heap and 11 to 16 MB of RSS, measured (docs/internals.md, "Loaded at import"). On
 * every Node, `crypto.webcrypto` loads WebCrypto and `fs.promises` loads readline. A CommonJS
 * application (most Express apps) never builds those facades, so importing drainkit must not build
 * them either.
 *
 * `process.getBuiltinModule` (Node 20.16 and 22.3; `engines` asks for more) returns the module's
 * own exports object, the same one `require` returns, and builds no facade.
 * The repository's test/core/import-footprint.test.ts checks this on every Node that CI runs.
 *
 * Modules only some processes need are not fetched here: crypto is fetched where a health token is
 * compared, and http2 is never fetched at all.
 */
import type { Cluster } from 'node:cluster';
import type * as Fs from 'node:fs';
import type * as Http from 'node:http';
import type * as Net from 'node:net';

const http: typeof Http = process.getBuiltinModule('node:http');
const net: typeof Net = process.getBuiltinModule('node:net');

// The cluster module's exports object is the cluster itself (what the ES `default` export is);
// @types/node types getBuiltinModule's answer as the ES namespace, hence the assertion.
export const cluster = process.getBuiltinModule('node:cluster') as unknown as Cluster;
export const { EventEmitter } = process.getBuiltinModule('node:events');
export const fs: typeof Fs = process.getBuiltinModule('node:fs');
export const { createServer: createHttpServer, OutgoingMessage } = http;
export const { Server: NetServer, Socket: NetSocket } = net;
