/**
 * drainkit: take a Node.js server out of rotation without failing a request.
 *
 *     import { createDrainer } from 'drainkit';
 *     const drainer = createDrainer(server);       // SIGTERM / SIGINT now drain, then exit
 *     // in your handler: if (drainer.handleHealth(req, res)) return;
 */
export { createDrainer } from './core/drainer.js';
export { DrainkitError, type DrainkitErrorCode } from './core/errors.js';
export { DEFAULTS } from './core/options.js';
export { isDrainkitListener } from './core/listeners.js';
export { balancerSaysNotRouting } from './core/window.js';
export { drainReport, formatDrainReport, phaseDurations, type DrainHint, type DrainHintCode, type DrainReport, type PhaseDuration } from './core/report.js';
export * from './core/types.js';
export { drainerOptionsFromEnv, ENV_OPTIONS, describeAccepted, type EnvOptionName, type EnvOptionSpec, type EnvValueKind } from './core/env-options.js';
