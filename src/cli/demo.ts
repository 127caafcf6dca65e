/**
 * `drainkit demo`: a thin shell over src/demo (run.ts). Parses flags, shows live progress on
 * stderr (on a terminal two status lines redrawn in place; through a pipe one line per reload),
 * prints the report on stdout (text, or one JSON document with `--json`) and picks the exit code.
 * Ctrl-C or SIGTERM ends the run and prints the report; a second one forces the workers' drains.
 */
import { Option, type Command } from 'commander';
import type { Logger } from '../core/types.js';
import { DEMO_DEFAULTS, DemoError, startDemo, type Demo } from '../demo/run.js';
import { formatReport, ms, statusLine } from '../demo/report.js';
import { integer } from './args.js';
import { CommandFailure, EXIT } from './exit-codes.js';
import { paint, useColor } from './progress.js';

interface DemoFlags {
  workers: number;
  rate: number;
  reloadEvery: number;
  duration?: number;
  websockets: number;
  sse: number;
  dataDir?: string;
  port: number;
  dashboardPort: number;
  json?: boolean;
  exitWithoutDraining?: boolean;
}

const HELP = `
Needs no service and no internet: the registry is PGlite in a temporary directory (removed at
the end unless --data-dir is given), the servers are drainkit's example server (src/example).
Stdout: the report (with --json, one JSON document). Stderr: where things run, the dashboard's
sign-in URL, and progress.

Exit codes of demo: 0 no request or connection failed and every drain completed; 1 something
failed (the report says what) or it could not start (a port in use); 2 usage; 4 a package it needs is not installed (ws, pg,
@electric-sql/pglite, @electric-sql/pglite-socket).`;

export function addDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('Run a local cluster of example servers under a paced load (HTTP GET and POST, WebSocket, SSE) with a rolling reload every few seconds, an embedded registry and the dashboard; on Ctrl-C (or after --duration) report what failed (0), latency and every drain with its phases.')
    .option('--workers <n>', 'example server workers in the cluster', integer(1, 32), DEMO_DEFAULTS.workers)
    .option('--rate <req/s>', 'HTTP requests per second (keep-alive GET and POST)', integer(1, 5_000), DEMO_DEFAULTS.rate)
    .option('--reload-every <s>', 'seconds from one rolling reload\'s start to the next', integer(1, 3_600), DEMO_DEFAULTS.reloadEverySec)
    .option('--duration <s>', 'run this many seconds, then report (default: until Ctrl-C or SIGTERM)', integer(1, 604_800))
    .option('--websockets <n>', 'WebSocket clients', integer(0, 1_000), DEMO_DEFAULTS.websockets)
    .option('--sse <n>', 'SSE clients', integer(0, 1_000), DEMO_DEFAULTS.sse)
    .option('--data-dir <dir>', 'keep the embedded registry (PGlite) in this directory instead of a temporary one')
    .option('--port <n>', 'the cluster\'s port (0 picks a free one)', integer(0, 65_535), 0)
    .option('--dashboard-port <n>', 'the dashboard\'s port (0 picks a free one)', integer(0, 65_535), 0)
    .option('--json', 'print the report as one JSON document')
    // The negative control of the demo's own test: proves the load counts what a bad drain breaks.
    .addOption(new Option('--exit-without-draining', 'workers exit the instant a drain starts (a broken shutdown, to see failures counted)').hideHelp())
    .addHelpText('after', HELP)
    .action(async (flags: DemoFlags) => {
      process.exitCode = await runDemoCommand(flags);
    });
}

/** What stderr shows while the demo runs. */
class ProgressView {
  readonly #tty = process.stderr.isTTY === true;
  readonly #color = useColor(process.stderr);
  #drawn = 0;
  #last = '';

  /** A line that stays (above the status lines on a terminal). */
  line(text: string): void {
    this.#clear();
    process.stderr.write(`${text}\n`);
    this.#redraw();
  }

  status(first: string, second: string): void {
    if (!this.#tty) return;
    this.#last = `${first}\n${second}`;
    this.#clear();
    this.#redraw();
  }

  done(): void {
    this.#clear();
    this.#last = '';
  }

  paint(text: string, tone: 'good' | 'bad' | 'busy'): string {
    return paint(text, tone, this.#color);
  }

  #clear(): void {
    if (!this.#tty || this.#drawn === 0) return;
    // Up to the first status line, then clear to the end of the screen.
    process.stderr.write(`\x1b[${this.#drawn}F\x1b[0J`);
    this.#drawn = 0;
  }

  #redraw(): void {
    if (!this.#tty || this.#last === '') return;
    process.stderr.write(`${this.#last}\n`);
    this.#drawn = this.#last.split('\n').length;
  }
}

function viewLogger(view: ProgressView): Logger {
  const write = (level: string) => (_obj: object, msg?: string): void => {
    if (msg !== undefined) view.line(`drainkit demo: cluster ${level}: ${msg}`);
  };
  const quiet = (): void => undefined;
  return { debug: quiet, info: quiet, warn: write('warning'), error: write('error') };
}

async function runDemoCommand(flags: DemoFlags): Promise<number> {
  const view = new ProgressView();
  const stop = new AbortController();
  let demo: Demo | undefined;
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals === 1) {
      view.line(`drainkit demo: ${signal}: stopping the load, draining the workers, then the report (${signal === 'SIGINT' ? 'Ctrl-C' : 'SIGTERM'} again forces)`);
      stop.abort();
    } else {
      view.line(`drainkit demo: ${signal} again: forcing the workers' drains`);
      demo?.force();
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let ticker: NodeJS.Timeout | undefined;
  let lastReload = 'first reload in a few seconds';
  try {
    view.line(`drainkit demo: starting an embedded registry, the dashboard and ${flags.workers} workers…`);
    try {
      demo = await startDemo(
        {
          workers: flags.workers,
          rate: flags.rate,
          reloadEverySec: flags.reloadEvery,
          durationSec: flags.duration,
          websockets: flags.websockets,
          sse: flags.sse,
          dataDir: flags.dataDir,
          port: flags.port,
          dashboardPort: flags.dashboardPort,
          exitWithoutDraining: flags.exitWithoutDraining === true,
          signal: stop.signal,
          logger: viewLogger(view),
        },
        {
          onStarted: (s) => {
            view.line(`drainkit demo: ${s.workers.length} workers on ${s.origin} (pids ${s.workers.join(', ')}), ${flags.rate} req/s, ${flags.websockets} WebSocket and ${flags.sse} SSE clients, a rolling reload every ${flags.reloadEvery} s`);
            view.line(`drainkit demo: registry: PGlite in ${s.dataDir}${s.dataDirKept ? '' : ' (temporary)'}, served at ${s.registryUrl}`);
            view.line(`drainkit demo: dashboard: ${s.dashboardUrl}`);
            view.line(flags.duration === undefined ? 'drainkit demo: running until Ctrl-C' : `drainkit demo: running for ${flags.duration} s`);
          },
          onReload: (result, status) => {
            const drains = result.replaced.map((x) => ms(x.drain.durationMs)).join(', ');
            const text = result.ok
              ? `reload ${status.reloads}: ${result.replaced.length} workers replaced in ${ms(result.durationMs)} (drains ${drains})`
              : `reload aborted: ${result.reason ?? 'no reason given'}`;
            if (process.stderr.isTTY === true) lastReload = `last: ${text}`;
            else view.line(`drainkit demo: ${view.paint(text, result.ok ? 'good' : 'bad')}; so far ${status.http.sent} sent, ${status.failed} failed`);
          },
          onStopping: () => {
            clearInterval(ticker);
            view.done();
            view.line('drainkit demo: ending: the reload under way finishes, the load stops, every worker drains; then the report');
          },
        },
      );
    } catch (err) {
      if (err instanceof DemoError && err.code === 'ERR_DRAINKIT_DEMO_PACKAGE_MISSING') throw new CommandFailure(err.message.replace(/^drainkit /, ''), EXIT.missingPackage);
      if ((err as { code?: unknown }).code === 'ERR_DRAINKIT_REGISTRY_DRIVER_MISSING') throw err;
      if (stop.signal.aborted) {
        view.line('drainkit demo: stopped before it was running; nothing to report');
        return EXIT.failed;
      }
      throw new CommandFailure(`the demo could not start: ${err instanceof Error ? err.message.replace(/^drainkit demo: /, '') : String(err)}`, EXIT.failed);
    }
    const running = demo;
    const draw = (): void => {
      const s = running.status();
      const tone = s.failed === 0 ? 'good' : 'bad';
      view.status(view.paint(statusLine(s), tone), `       ${lastReload}   (Ctrl-C ends and reports)`);
    };
    if (process.stderr.isTTY === true) {
      draw();
      ticker = setInterval(draw, 500);
    }
    const report = await running.report;
    view.done();
    process.stdout.write(flags.json === true ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
    return report.ok ? EXIT.ok : EXIT.failed;
  } finally {
    clearInterval(ticker);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
