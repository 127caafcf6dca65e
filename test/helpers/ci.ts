/**
 * One rule for "running in CI", shared by every test that needs a service (HAProxy, Postgres):
 * outside CI a missing service skips its tests with a message; in CI it fails them, so a green
 * CI run always means the code behind that service ran.
 */

/**
 * Whether `CI` is set to anything but an empty string, `false` or `0` (case-insensitive).
 * CI providers set `CI=true` (GitHub Actions, GitLab) or `CI=1`; a developer who exports
 * `CI=false` to opt out gets the local behaviour.
 */
export function inCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const value = env.CI?.trim().toLowerCase();
  return value !== undefined && value !== '' && value !== 'false' && value !== '0';
}

/**
 * The `skip` value for a test that needs `service`: `false` (run) when it is available or when
 * in CI (where the test must then fail on the missing service), otherwise a reason naming the
 * service and how to get it.
 */
export function skipUnlessAvailable(available: boolean, service: string, howToGet: string): string | false {
  if (available || inCI()) return false;
  return `${service} is not available (${howToGet}); skipped outside CI, required when CI is set`;
}
