// values.js checks what an application passes before it crosses to the Go
// side, so that a mistake is an INVALID_ARGUMENT saying what to pass — not
// a value JSON silently changes (undefined, NaN, a Map), a TypeError from
// deep inside the bridge, or a string made of "[object Object]".
import { FactlogError } from "./errors.js";

const invalid = (where, what) => new FactlogError("INVALID_ARGUMENT", `${where}: ${what}`);

/** describe names a JavaScript value for a message. */
export function describe(v) {
  switch (typeof v) {
    case "undefined":
      return "undefined";
    case "function":
      return "a function";
    case "symbol":
      return "a Symbol";
    case "bigint":
      return `a BigInt (${v}n)`;
    case "number":
      return Number.isNaN(v) ? "NaN" : String(v);
    case "string":
      return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
    case "boolean":
      return String(v);
  }
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  const proto = Object.getPrototypeOf(v);
  const name = proto?.constructor?.name;
  if (name && name !== "Object") return `a ${name}`;
  return proto === null || proto === Object.prototype ? "an object" : "an object with a prototype of its own (inherited keys)";
}

/**
 * wellFormed checks that a string holds no lone UTF-16 surrogate: UTF-8,
 * which the Go side and SQLite speak, cannot carry one, and decoding would
 * turn it into U+FFFD, so that two different strings would become one.
 */
function wellFormed(s, where, at) {
  if (s.isWellFormed()) return s;
  const chars = [...s];
  const i = chars.findIndex((c) => c.length === 1 && c >= "\ud800" && c <= "\udfff");
  const code = chars[i].charCodeAt(0).toString(16);
  throw invalid(where, `${at} holds a lone UTF-16 surrogate (\\u${code}, character ${i + 1}), which UTF-8 cannot carry: pair it, or drop it (string.toWellFormed())`);
}

const plain = (v) => {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

const maxDepth = 256;

/**
 * jsonValue checks that v is JSON that survives the trip unchanged: null,
 * a boolean, a finite number, a string, an array or a plain object of
 * those, without cycles. It returns v.
 */
export function jsonValue(v, where, name = "the value") {
  const open = new Set(); // the objects on the current path, for cycles
  const walk = (x, at, depth) => {
    switch (typeof x) {
      case "string":
        wellFormed(x, where, at);
        return;
      case "boolean":
        return;
      case "number":
        if (!Number.isFinite(x)) throw invalid(where, `${at} is ${x}, which JSON cannot hold: pass a finite number, or null`);
        return;
      case "undefined":
        throw invalid(where, `${at} is undefined: pass null, or leave the key out`);
      case "bigint":
        throw invalid(where, `${at} is ${describe(x)}: pass a Number (exact up to 2^53) or a string`);
      case "function":
      case "symbol":
        throw invalid(where, `${at} is ${describe(x)}: values are JSON (null, booleans, numbers, strings, arrays and plain objects)`);
    }
    if (x === null) return;
    if (open.has(x)) throw invalid(where, `${at} contains itself (a cycle): values are JSON trees`);
    if (depth > maxDepth) throw invalid(where, `${at} is nested more than ${maxDepth} deep`);
    open.add(x);
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) walk(x[i], `${at}[${i}]`, depth + 1);
    } else if (plain(x)) {
      if (Object.getOwnPropertySymbols(x).length) throw invalid(where, `${at} has Symbol keys, which JSON drops`);
      for (const k of Object.keys(x)) {
        wellFormed(k, where, `a key of ${at}`);
        walk(x[k], `${at}.${k}`, depth + 1);
      }
    } else if (x instanceof Map) {
      throw invalid(where, `${at} is a Map: pass Object.fromEntries(map)`);
    } else if (x instanceof Set) {
      throw invalid(where, `${at} is a Set: pass [...set]`);
    } else if (x instanceof Date) {
      throw invalid(where, `${at} is a Date: pass date.toISOString() or date.getTime()`);
    } else {
      throw invalid(where, `${at} is ${describe(x)}: values are JSON (null, booleans, numbers, strings, arrays and plain objects)`);
    }
    open.delete(x);
  };
  try {
    walk(v, name, 0);
  } catch (err) {
    if (err instanceof FactlogError) throw err;
    // A getter or a Proxy of the application's that throws.
    throw invalid(where, `${name} could not be read: ${err && err.message}`);
  }
  return v;
}

/** item checks an event's item: a string, or a finite number (as its string). */
export function item(v, where) {
  if (typeof v === "string") return wellFormed(v, where, "item");
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  throw invalid(where, `item is ${describe(v)}: pass a string (or a number)`);
}

/** text checks a non-empty string argument. */
export function text(v, where, what) {
  if (typeof v !== "string" || v === "") throw invalid(where, `${what} is ${describe(v)}: pass a non-empty string`);
  return wellFormed(v, where, what);
}

/**
 * storeName checks a store's name: a non-empty string without NUL, which
 * would end it early for the file system (two names, one file).
 */
export function storeName(v, where) {
  text(v, where, "name");
  if (v.includes("\0")) throw invalid(where, `name ${describe(v)} holds a NUL character, which ends a file name early: drop it`);
  return v;
}

/** options checks an options object: undefined, or a plain object with only the known keys. */
export function options(v, where, known) {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v) || !plain(v)) throw invalid(where, `the options are ${describe(v)}: pass an object`);
  for (const k of Object.keys(v)) {
    if (!known.includes(k)) throw invalid(where, `unknown option "${k}" (the options are ${known.join(", ")})`);
  }
  return v;
}

/** fn checks an optional callback. */
export function callback(v, where, what) {
  if (v !== undefined && v !== null && typeof v !== "function") throw invalid(where, `${what} is ${describe(v)}: pass a function`);
  return v || null;
}

/** signal checks an optional AbortSignal. */
export function signal(v, where) {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || typeof v.aborted !== "boolean" || typeof v.addEventListener !== "function") {
    throw invalid(where, `signal is ${describe(v)}: pass an AbortSignal`);
  }
  return v;
}

/** bytes checks a Uint8Array and copies it (the copy may be transferred). */
export function bytes(v, where) {
  if (!(v instanceof Uint8Array)) throw invalid(where, `takes a Uint8Array, not ${describe(v)}`);
  return v.slice();
}

/** interpretation checks { schema, materializers }. */
export function interpretation(schema, materializers, where) {
  if (typeof schema !== "string") throw invalid(where, `schema is ${describe(schema)}: pass a string of SQL`);
  if (typeof materializers !== "object" || materializers === null || Array.isArray(materializers) || !plain(materializers)) {
    throw invalid(where, `materializers is ${describe(materializers)}: pass an object of event type → SQL`);
  }
  for (const [type, sql] of Object.entries(materializers)) {
    if (typeof sql !== "string") throw invalid(where, `the materializer of "${type}" is ${describe(sql)}: pass a string of SQL ("" declares a type that changes nothing)`);
  }
  return { schema, materializers };
}

/** versionVector checks { "<peer>:<tip id>": seq } (or { peer: seq }). */
export function versionVector(v, where) {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v) || !plain(v)) throw invalid(where, `the version vector is ${describe(v)}: pass an object { peer: seq } (from versionVector())`);
  for (const [peer, seq] of Object.entries(v)) {
    if (!Number.isSafeInteger(seq) || seq < 0) throw invalid(where, `the version vector's seq for ${peer} is ${describe(seq)}: pass a non-negative integer`);
  }
  return v;
}

/** sqlParams checks query parameters and encodes blobs for the trip. */
export function sqlParams(params, where) {
  if (params === undefined || params === null) return null;
  const one = (v, at) => {
    if (typeof v === "string") return wellFormed(v, where, at);
    if (v === null || typeof v === "boolean") return v;
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw invalid(where, `${at} is ${v}: pass a finite number, or null`);
      return v;
    }
    if (v instanceof Uint8Array) return { $blob: toBase64(v) };
    if (typeof v === "bigint") {
      if (v < -(2n ** 63n) || v >= 2n ** 63n) throw invalid(where, `${at} is ${describe(v)}, beyond SQLite's 64-bit integers`);
      return { $int: String(v) };
    }
    throw invalid(where, `${at} is ${describe(v)}: a parameter is null, a boolean, a number, a BigInt, a string or a Uint8Array`);
  };
  if (Array.isArray(params)) return params.map((v, i) => one(v, `parameter ${i + 1}`));
  if (typeof params === "object" && plain(params)) {
    const out = {};
    for (const [k, v] of Object.entries(params)) out[k] = one(v, `parameter ${k}`);
    return out;
  }
  throw invalid(where, `the parameters are ${describe(params)}: pass an array (for ?) or an object (for :name)`);
}

function toBase64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** fromBase64 decodes a blob of a result row. */
export function fromBase64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
