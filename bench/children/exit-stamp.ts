/**
 * Preloaded (`node --import`) into servers whose exit is timed, including the example server
 * that we must not modify: prints `{"event":"exit-event","at":<epoch ms>}` from the process's
 * own `exit` event, which splits "last response → exit" into the part inside the event loop and
 * the part after it (Node's teardown, the kernel, the parent's child-exit notification).
 */
import { announce, epochMs } from './common.js';

process.once('exit', () => announce({ event: 'exit-event', at: epochMs() }));
