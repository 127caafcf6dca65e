/**
 * The lifecycle state machine: one state value, one writer. Every transition goes through
 * `transition`, which checks the edge against the table below and stamps the time.
 */
import type { DrainPhase, DrainState } from './types.js';

/** Legal successors of each state. */
const STATE_EDGES: Readonly<Record<DrainState, readonly DrainState[]>> = {
  active: ['draining'],
  draining: ['stopped'],
  stopped: [],
};

/** Legal successors of each phase (`undefined` is "not draining yet"). */
const PHASE_EDGES: Readonly<Record<DrainPhase | 'none', readonly DrainPhase[]>> = {
  none: ['deregistering'],
  deregistering: ['closing'],
  closing: ['persistent', 'waiting', 'forcing'],
  persistent: ['waiting', 'forcing'],
  waiting: ['forcing', 'cleanup'],
  forcing: ['cleanup'],
  cleanup: [],
};

export class Lifecycle {
  #state: DrainState = 'active';
  #phase: DrainPhase | undefined;

  get state(): DrainState {
    return this.#state;
  }

  get phase(): DrainPhase | undefined {
    return this.#phase;
  }

  /** Moves to `to`; throws on an illegal edge, which is always a bug in drainkit itself. */
  transition(to: DrainState): void {
    if (!STATE_EDGES[this.#state].includes(to)) {
      throw new Error(`drainkit internal error: illegal state transition ${this.#state} → ${to}`);
    }
    this.#state = to;
  }

  enterPhase(to: DrainPhase): void {
    const from = this.#phase ?? 'none';
    if (!PHASE_EDGES[from].includes(to)) {
      throw new Error(`drainkit internal error: illegal phase transition ${from} → ${to}`);
    }
    this.#phase = to;
  }
}
