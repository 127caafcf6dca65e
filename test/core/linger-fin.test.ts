/**
 * A connection drainkit half-closed after a response during the drain, when the client's FIN
 * arrives: Node's HTTP server answers it with `socket.end()` whatever the socket's state, which
 * on a finished socket builds an `ERR_STREAM_ALREADY_FINISHED` nobody receives (a stack trace
 * and a message formatted by util's inspect, on the last response's path to the exit). drainkit
 * turns that one call into what it amounts to; every other `end()` call behaves as Node's.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { describe, it } from 'node:test';
import { createDrainer } from '../../src/index.js';
import { listen } from '../helpers/servers.js';
import { RawClient, get, within } from '../helpers/raw.js';

/**
 * Counts calls of the streams' own `end()` on `socket` once its write side has finished: the call
 * that builds the error (net.Socket#end reaches it through `Duplex.prototype.end`, read at each
 * call).
 */
function endsAfterFinish(socket: Socket): { readonly count: () => number; readonly stop: () => void } {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- restored below, called with its receiver
  const original = Duplex.prototype.end;
  let counted = 0;
  Duplex.prototype.end = function end(this: Duplex, ...args: unknown[]) {
    if (this === socket && this.writableFinished) counted += 1;
    return Reflect.apply(original, this, args) as Duplex;
  } as typeof original;
  return {
    count: () => counted,
    stop: () => {
      Duplex.prototype.end = original;
    },
  };
}

describe("a lingering connection's client FIN", { timeout: 60_000 }, () => {
  it('closes the connection without building an error, and end() keeps Node behaviour for every other call', async () => {
    const server = http.createServer();
    const drainer = createDrainer(server, { signals: false, lingerMs: 10_000, drainTimeoutMs: 20_000, deregister: { mode: 'fixed', delayMs: 0 } });
    let release: (() => void) | undefined;
    let serverSocket: Socket | undefined;
    server.on('request', (req, res) => {
      serverSocket = req.socket;
      release = () => res.end('done');
    });
    const port = await listen(server);
    const client = await RawClient.connect(port);
    let errors: ReturnType<typeof endsAfterFinish> | undefined;
    try {
      client.write(get('/held'));
      await within(
        (async () => {
          while (release === undefined) await new Promise((r) => setTimeout(r, 5));
        })(),
        'the request reaching the handler',
      );
      const drained = drainer.drain();
      release!();
      await client.waitFor((c) => c.ended && c.responses() === 1, "the response and the server's FIN");
      assert.match(client.data, /connection: close/i);
      const socket = serverSocket!;
      assert.equal(socket.writableFinished, true, 'the server side is half-closed');
      assert.equal(socket.destroyed, false, "the connection lingers for the client's FIN");

      const closed = new Promise((r) => socket.once('close', r));
      errors = endsAfterFinish(socket);
      client.socket.end();
      await within(closed, 'the server socket closing after the client FIN');
      errors.stop();
      assert.equal(errors.count(), 0, "Node's end() on the finished socket (which builds the error) was not reached on the client's FIN");
      await within(drained, 'the drain');

      // Any other call still gets Node's own answer.
      // Node's typings give end()'s callback no argument; the stream passes it the error.
      const endWithError = socket.end.bind(socket) as (cb: (err?: NodeJS.ErrnoException) => void) => Socket;
      const late = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
        endWithError(resolve);
      });
      assert.equal(late?.code, 'ERR_STREAM_ALREADY_FINISHED');
      assert.equal(socket.end(), socket);
    } finally {
      errors?.stop();
      client.socket.destroy();
      server.closeAllConnections();
      server.close();
    }
  });
});
