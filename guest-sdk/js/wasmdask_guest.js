// Write wasmdask tasks in JavaScript: typed binary arguments and results, futures as arguments.
//
// `wasmdask build` stages this module (and `wasmdask_binary.js`, which it uses) next to the
// task's `app.js`, so a task imports it by a relative path:
//
//   import { submitWith, value, release, take } from './wasmdask_guest.js';
//
//   const inner = submitWith('square', [value('u64', x)]);
//   const outer = submitWith('square', [inner]);  // inner's result passed by handle
//   release([inner]);                             // outer still gets it
//   return take(outer, 'u64');                    // a BigInt
//
// The JSON functions of the `cluster` interface (`submit`, `map`, `gather`) need no helper:
// import them from 'wasmdask:task/cluster@0.1.3' directly. This module covers the binary ones:
//
// - `value(type, v)` encodes one argument in the binary encoding of a WIT type given as text
//   ('u64', 'list<f64>', 'tuple<string, option<u32>>', ...; see wasmdask_binary.js for which JS
//   values stand for which WIT types: BigInt for u64/s64, Uint8Array for list<u8>, ...);
// - `submitWith(fn, args)` / `mapWith(fn, argLists)` submit calls whose arguments, one per
//   parameter in order, are `value(...)`s or earlier `Call`s (an array of Calls is one `list<T>`
//   argument made of their results): a Call's result goes from where it was made to the next
//   call (worker to worker) and never enters this task, as with Dask's
//   `client.submit(f, future)`;
// - `take(call, type)` waits for one call and decodes its result (for a callee returning
//   `result<T, E>`, the `T`); `gatherBinary(calls, type)` waits for all, then takes them one at a
//   time, so one encoded result at a time is in this task's memory;
// - `release(calls)` drops results this task no longer needs (handles left when it ends are
//   released with it).
//
// A failed call, or a cluster function that refuses its arguments, throws a `TaskFailed` whose
// `kind` is the WIT error-kind name (e.g. 'guest-error') and whose message reads
// '<kind>: <message>'; a `result<T, string>` export can rethrow `e.message` as its `err`.
//
// Flyte's data types (`wasmdask:task/data`): `toDate`/`fromDate`, `toMillis`/`fromMillis` and
// `fileByUri`, from `wasmdask_data.js` (staged with this module; see there).

import {
  mapArgs,
  release as releaseIds,
  submitArgs,
  take as takeBytes,
  wait,
} from 'wasmdask:task/cluster@0.1.3';

import { DecodeError, EncodeError, decode, encode } from './wasmdask_binary.js';

export { DecodeError, EncodeError, decode, encode, parseType } from './wasmdask_binary.js';
export { fileByUri, fromDate, fromMillis, toDate, toMillis } from './wasmdask_data.js';

/** A cluster call failed: `kind` is the WIT error-kind name, `reason` the host's message. */
export class TaskFailed extends Error {
  constructor(kind, reason) {
    super(`${kind}: ${reason}`);
    this.name = 'TaskFailed';
    this.kind = kind;
    this.reason = reason;
  }
}

/** The handle of one submitted call: take it once, pass it to `submitWith` as often as needed. */
export class Call {
  constructor(id, fn) {
    this.id = id;
    this.function = fn;
  }
}

/**
 * `v` as one argument of `submitWith` / `mapWith`, in the binary encoding of the WIT type `type`
 * (the parameter's type, as text). Throws `TaskFailed` ('bad-input') when `v` does not fit.
 */
export function value(type, v) {
  try {
    return { tag: 'value', val: encode(type, v) };
  } catch (error) {
    if (error instanceof EncodeError) {
      const message = `cannot encode an argument as \`${type}\`: ${error.message}`;
      throw new TaskFailed('bad-input', message);
    }
    throw error;
  }
}

/**
 * Submits one call of `fn` whose arguments, one per parameter in order, are `value(...)`s or
 * earlier `Call`s (passed by handle; an array of Calls is one `list<T>` argument). The call runs
 * once those results exist; if one of them failed, it fails too without running, with the same
 * kind. Throws `TaskFailed` at once for a handle this task no longer holds, or whose result type
 * is not the parameter's type.
 */
export function submitWith(fn, args) {
  const encoded = witArgs(fn, args);
  return new Call(cluster(() => submitArgs(fn, encoded)), fn);
}

/** `submitWith` for each element of `argLists`, in order, in one host round trip. */
export function mapWith(fn, argLists) {
  const encoded = [...argLists].map((args) => witArgs(fn, args));
  const ids = cluster(() => mapArgs(fn, encoded));
  // Not `ids.map`: the bindings return a list<u64> as a BigUint64Array, whose `map` makes another.
  return Array.from(ids, (id) => new Call(id, fn));
}

/**
 * This task no longer needs the results of `calls` (not taken): the cluster drops each once no
 * handle and no waiting call refers to it. Calls already submitted with it still get it.
 */
export function release(calls) {
  const ids = [...calls].map((call) => call.id);
  if (ids.length > 0) releaseIds(ids);
}

/**
 * The result of `call`, decoded as the WIT type `type` (the `T` of a callee returning
 * `result<T, E>`); without a type, the encoded bytes (a Uint8Array). Waits for the call if needed
 * and uses the handle up. Throws `TaskFailed` when the call failed (its `err` is kind
 * 'guest-error') or the result does not decode as `type` ('bad-input').
 */
export function take(call, type) {
  const bytes = cluster(() => takeBytes(call.id));
  if (type === undefined) return bytes;
  try {
    return decode(type, bytes);
  } catch (error) {
    if (error instanceof DecodeError) {
      throw new TaskFailed(
        'bad-input',
        `the result of \`${call.function}\` does not decode as \`${type}\`: ${error.message}`,
      );
    }
    throw error;
  }
}

/**
 * Waits for all of `calls`, then takes their results one at a time with `take`. The first
 * failure throws its `TaskFailed` after the remaining handles are released.
 */
export function gatherBinary(calls, type) {
  const list = [...calls];
  if (list.length === 0) return [];
  wait(list.map((call) => call.id));
  const results = [];
  for (let i = 0; i < list.length; i++) {
    try {
      results.push(take(list[i], type));
    } catch (error) {
      release(list.slice(i + 1));
      throw error;
    }
  }
  return results;
}

/** The WIT `arg` variants of one call. */
function witArgs(fn, args) {
  if (args instanceof Call || typeof args === 'string' || !args?.[Symbol.iterator]) {
    throw new TaskFailed(
      'bad-input',
      `the arguments of \`${fn}\` must be an array with one value(...) or Call per parameter`,
    );
  }
  return [...args].map((arg, index) => {
    if (arg instanceof Call) return { tag: 'call', val: arg.id };
    if (arg?.tag === 'value' && arg.val instanceof Uint8Array) return arg;
    if (Array.isArray(arg) && arg.every((call) => call instanceof Call)) {
      return { tag: 'calls', val: arg.map((call) => call.id) };
    }
    throw new TaskFailed(
      'bad-input',
      `argument ${index} of \`${fn}\` is neither value('<WIT type>', v), a Call nor an array ` +
        'of Calls',
    );
  });
}

/**
 * Runs a cluster import that returns `result<T, task-error>`: the bindings return `T` and throw
 * the `err` (a task-error record, possibly wrapped as `payload`), which becomes a `TaskFailed`.
 */
function cluster(hostCall) {
  try {
    return hostCall();
  } catch (error) {
    const taskError = error?.payload ?? error;
    if (typeof taskError?.kind === 'string' && typeof taskError?.message === 'string') {
      throw new TaskFailed(taskError.kind, taskError.message);
    }
    throw error;
  }
}
