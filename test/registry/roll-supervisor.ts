/**
 * A small process supervisor for the roll tests, standing in for systemd, Kubernetes or a
 * container runtime: it runs `drainkit example-server --database-url …` and, whenever that
 * process exits, starts a new one on the same port, so the registry sees a new generation on the
 * same host and port. Restarting can be switched off to play a replacement that never comes.
 */
import { spawnServer, killAll, type ExitStatus, type ServerProcess } from '../helpers/processes.js';

const MAIN = 'dist/cli/main.js';

/** How often in a row a replacement may fail to start (port still held, say) before giving up. */
const START_ATTEMPTS = 5;

export class SupervisedServer {
  /** Every process started, oldest first. */
  readonly processes: ServerProcess[] = [];
  /** Exit statuses of the processes that ended, in order. */
  readonly exits: ExitStatus[] = [];
  /** Whether an exited process is replaced. */
  restart = true;
  /** Errors of replacements that could not be started. */
  readonly failures: Error[] = [];
  #stopping = false;
  #port = 0;
  #starting: Promise<void> = Promise.resolve();

  private constructor(
    private readonly databaseUrl: string,
    private readonly labels: readonly string[],
    private readonly extraArgs: readonly string[],
  ) {}

  /**
   * Starts the first process (on a free port) and resolves once it listens. `extraArgs` come
   * after the defaults (a fixed 200 ms window, 100 ms heartbeats), so they override them.
   */
  static async start(databaseUrl: string, labels: readonly string[], extraArgs: readonly string[] = []): Promise<SupervisedServer> {
    const s = new SupervisedServer(databaseUrl, labels, extraArgs);
    await s.#spawn();
    return s;
  }

  get port(): number {
    return this.#port;
  }

  get current(): ServerProcess {
    return this.processes.at(-1)!;
  }

  async #spawn(): Promise<void> {
    let last: unknown;
    for (let attempt = 0; attempt < START_ATTEMPTS && !this.#stopping; attempt += 1) {
      try {
        const p = await spawnServer({
          // The identity rule's override: every instance is 127.0.0.1:<port> in the registry.
          env: { ...process.env, DRAINKIT_INSTANCE_HOST: '127.0.0.1' },
          args: [MAIN, 'example-server', '--port', String(this.#port), '--log-level', 'warn', '--deregister-mode', 'fixed', '--deregister-delay-ms', '200',
            '--database-url', this.databaseUrl, '--heartbeat-ms', '100', '--liveness-write-ms', '200', ...this.labels.flatMap((l) => ['--label', l]), ...this.extraArgs],
        });
        this.#port = p.port;
        this.processes.push(p);
        void p.closed.then((status) => {
          this.exits.push(status);
          if (this.restart && !this.#stopping) this.#starting = this.#spawn().catch((err: unknown) => void this.failures.push(err as Error));
        });
        return;
      } catch (err) {
        last = err;
      }
    }
    if (!this.#stopping) throw last instanceof Error ? last : new Error(String(last));
  }

  /** No more restarts; kills the running process (SIGKILL: teardown, not a drain). */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#starting.catch(() => undefined);
    await killAll(this.processes);
  }
}
