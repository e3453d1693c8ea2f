// errors.js: FactlogError, the one kind of error every rejection is. The
// Go side rejects with {code, message}; the bridge's own checks throw the
// same way.

/** A rejected call: code is stable across versions, message says what to fix. */
export class FactlogError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {ErrorOptions} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = "FactlogError";
    this.code = code;
  }
}

/** toError turns what the Go side or the Worker rejects with into a FactlogError. */
export function toError(e) {
  if (e instanceof FactlogError) return e;
  if (e && typeof e.code === "string" && typeof e.message === "string") return new FactlogError(e.code, e.message);
  return new FactlogError("INTERNAL", String((e && e.message) || e), { cause: e });
}

export const closedError = () => new FactlogError("CLOSED", "the store is closed");

/** argumentError is an INVALID_ARGUMENT rejection. */
export const argumentError = (message) => new FactlogError("INVALID_ARGUMENT", message);
