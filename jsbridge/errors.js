// errors.js turns the {code, message} the Go side rejects with into an
// Error with a stable code.

/** @param {{code: string, message: string}} e */
export function toError(e) {
  if (e instanceof Error) return e;
  const err = new Error(e.message);
  err.name = "FactlogError";
  err.code = e.code;
  return err;
}

export function closedError() {
  return toError({ code: "CLOSED", message: "the store is closed" });
}
