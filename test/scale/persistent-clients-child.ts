/**
 * A client process for test/scale/persistent.test.ts: holds thousands of WebSocket clients and
 * SSE streams against one server so the test runner's own event loop (and file descriptors) are
 * spared. Commands arrive as JSON lines on stdin, answers leave as JSON lines on stdout:
 *
 *   {"cmd":"connect","port":p,"ws":n,"sse":m}  → {"event":"connected","ws":…,"sse":…,"failed":{…}}
 *   {"cmd":"report","settleMs":t}              → {"event":"report",…} once every client ended (or t passed)
 *
 * Clients never reconnect: the test counts how each one ended. An SSE stream "ended with retry"
 * when its body contained a `retry:` field before the server ended it.
 */
import * as http from 'node:http';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';

interface ConnectCommand { readonly cmd: 'connect'; readonly port: number; readonly ws: number; readonly sse: number }
interface ReportCommand { readonly cmd: 'report'; readonly settleMs: number }

const wsCloseCodes: Record<string, number> = {};
const failed: Record<string, number> = {};
let wsOpen = 0;
let wsEnded = 0;
let sseOpen = 0;
let sseEndedWithRetry = 0;
let sseEndedWithoutRetry = 0;
let sseErrors = 0;
let wsTotal = 0;
let sseTotal = 0;

function out(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function fail(kind: string): void {
  failed[kind] = (failed[kind] ?? 0) + 1;
}

function openWebSocket(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: false });
    let opened = false;
    socket.on('open', () => {
      opened = true;
      wsOpen += 1;
      resolve();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!opened) fail(`ws:${err.code ?? err.message}`);
    });
    socket.on('close', (code) => {
      if (!opened) {
        resolve();
        return;
      }
      wsOpen -= 1;
      wsEnded += 1;
      wsCloseCodes[code] = (wsCloseCodes[code] ?? 0) + 1;
    });
  });
}

function openEventStream(port: number): Promise<void> {
  return new Promise((resolve) => {
    let body = '';
    let opened = false;
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      if (!opened) return;
      sseOpen -= 1;
      if (/^retry: \d+$/m.test(body)) sseEndedWithRetry += 1;
      else sseEndedWithoutRetry += 1;
    };
    const req = http.get({ host: '127.0.0.1', port, path: '/sse', agent: false }, (res) => {
      if (res.statusCode !== 200) {
        fail(`sse:status ${res.statusCode}`);
        res.resume();
        resolve();
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        // Only the tail matters for `retry:`; keep memory flat over a long stream.
        body = (body + chunk).slice(-4096);
        if (!opened && body.includes('data:')) {
          opened = true;
          sseOpen += 1;
          resolve();
        }
      });
      res.on('end', settle);
      res.on('close', settle);
      res.on('error', () => {
        sseErrors += 1;
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!opened) {
        fail(`sse:${err.code ?? err.message}`);
        resolve();
      } else {
        sseErrors += 1;
      }
    });
  });
}

/** Runs `count` openings, at most `concurrency` at a time (a burst of thousands would overflow the backlog). */
async function pooled(count: number, concurrency: number, open: () => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next += 1;
      await open();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

async function connect(cmd: ConnectCommand): Promise<void> {
  wsTotal += cmd.ws;
  sseTotal += cmd.sse;
  await pooled(cmd.ws, 100, () => openWebSocket(cmd.port));
  await pooled(cmd.sse, 100, () => openEventStream(cmd.port));
  out({ event: 'connected', ws: wsOpen, sse: sseOpen, failed: { ...failed } });
}

async function report(cmd: ReportCommand): Promise<void> {
  const deadline = Date.now() + cmd.settleMs;
  while ((wsOpen > 0 || sseOpen > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  out({
    event: 'report',
    ws: { total: wsTotal, ended: wsEnded, openLeft: wsOpen, closeCodes: { ...wsCloseCodes } },
    sse: { total: sseTotal, endedWithRetry: sseEndedWithRetry, endedWithoutRetry: sseEndedWithoutRetry, openLeft: sseOpen, errors: sseErrors },
    failed: { ...failed },
  });
}

createInterface({ input: process.stdin }).on('line', (text) => {
  const cmd = JSON.parse(text) as ConnectCommand | ReportCommand;
  const run = cmd.cmd === 'connect' ? connect(cmd) : report(cmd);
  run.catch((err: unknown) => out({ event: 'error', message: err instanceof Error ? err.message : String(err) }));
}).on('close', () => {
  // The test closed our stdin (done, or gone): leave, whatever is still open.
  process.exit(0);
});
out({ event: 'ready', pid: process.pid });
