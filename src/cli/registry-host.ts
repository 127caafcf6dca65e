/**
 * `drainkit registry-host`: the embedded registry for single-host setups. It keeps the registry
 * in PGlite under a data directory and serves it to the other local processes over the Postgres
 * wire protocol, so example servers (or your services) report to it with
 * `--database-url postgres://postgres@127.0.0.1:<port>/postgres`.
 *
 * stdout: `{"event":"listening","url":…,"port":…,"pid":…,"dataDir":…}` once serving, and
 * `{"event":"stopped",…}` after SIGTERM or SIGINT, when the database is closed.
 */
export interface RegistryHostConfig {
  readonly dataDir: string;
  readonly host: string;
  readonly port: number;
}

export async function runRegistryHost(config: RegistryHostConfig): Promise<void> {
  const { hostPglite } = await import('../registry/index.js');
  const hosted = await hostPglite({ dataDir: config.dataDir, host: config.host, port: config.port });
  process.stdout.write(`${JSON.stringify({ event: 'listening', url: hosted.url, port: hosted.port, pid: process.pid, dataDir: config.dataDir })}\n`);
  const stop = (signal: NodeJS.Signals): void => {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    // Closing PGlite flushes its data directory; the process then exits on its own.
    void hosted.stop().then(
      () => process.stdout.write(`${JSON.stringify({ event: 'stopped', signal, pid: process.pid })}\n`),
      (err: unknown) => {
        process.stderr.write(`drainkit registry-host: closing the database failed: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
