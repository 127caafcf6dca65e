/**
 * The Fastify plugin in a real process with signals handled (the plugin's defaults), from the
 * built package: `await app.close()` must leave the process alive and in charge of its own exit
 * (a test suite that closes its app must go on running its tests), while SIGTERM still drains,
 * closes Fastify and exits 0. Needs `npm run build`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { killTracked, signalAndWait, spawnServer } from '../helpers/processes.js';
import { within } from './clients.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/fastify-app.mjs', import.meta.url));
const BUILT = fileURLToPath(new URL('../../dist/integrations/fastify.js', import.meta.url));

describe('drainkit/fastify in a process with signals handled', { timeout: 60_000 }, () => {
  after(() => killTracked());

  it('await app.close() drains without ending the process: the app goes on and exits with its own code', async () => {
    assert.ok(existsSync(BUILT), `${BUILT} is missing: run "npm run build" first (npm test does)`);
    const app = await spawnServer({ args: [FIXTURE, 'close'] });
    const status = await within(app.closed, 20_000, 'the app to exit on its own');
    const events = app.events.map((e) => e.event);
    const stderr = app.stderr.map((l) => l.text).join('\n');
    assert.deepEqual(events, ['listening', 'drained', 'onClose', 'closed', 'still-alive'], `what the app printed (stderr: ${stderr})`);
    assert.deepEqual(app.events.find((e) => e.event === 'drained'), { event: 'drained', success: true, reason: 'fastify.close' });
    assert.deepEqual(status, { code: 42, signal: null }, 'the app, not drainkit, chose the exit code');
  });

  it('SIGTERM drains, closes Fastify (onClose hooks run) and exits 0', async () => {
    assert.ok(existsSync(BUILT), `${BUILT} is missing: run "npm run build" first (npm test does)`);
    const app = await spawnServer({ args: [FIXTURE, 'signal'] });
    const status = await signalAndWait(app, 'SIGTERM', 20_000);
    const stderr = app.stderr.map((l) => l.text).join('\n');
    assert.deepEqual(app.events.map((e) => e.event), ['listening', 'onClose', 'drained'], `what the app printed (stderr: ${stderr})`);
    assert.deepEqual(app.events.find((e) => e.event === 'drained'), { event: 'drained', success: true, reason: 'SIGTERM' });
    assert.deepEqual(status, { code: 0, signal: null });
  });
});
