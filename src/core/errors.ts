/**
 * One catalogue of drainkit's errors. Callers branch on `code`, never on message text; every
 * message quotes the bad value and states what is accepted.
 */
export type DrainkitErrorCode =
  | 'ERR_DRAINKIT_INVALID_OPTION'
  | 'ERR_DRAINKIT_UNKNOWN_OPTION'
  | 'ERR_DRAINKIT_INVALID_SERVER'
  | 'ERR_DRAINKIT_ALREADY_ATTACHED'
  | 'ERR_DRAINKIT_INVALID_ARGUMENT'
  /** One request handler attached twice: bare and wrapped by `withHealth`. */
  | 'ERR_DRAINKIT_HANDLER_TWICE';

/**
 * Every error drainkit throws. Layers above the core (the registry) extend it with codes of their
 * own, so `err instanceof DrainkitError` catches them all.
 */
export class DrainkitError<Code extends string = DrainkitErrorCode> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DrainkitError';
    this.code = code;
  }
}

/** Renders a value for an error message without throwing on cycles or huge strings. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) {
    return String(value);
  }
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'function') return 'a function';
  return `an object`;
}
