// Flyte's data types (`wasmdask:task/data` in wit/wasmdask.wit) for JavaScript tasks: a task
// world that uses them (`use wasmdask:task/data@0.1.3.{file, directory, datetime};`) gets the
// records as plain objects with camelCase fields (`{ unixSeconds, nanos }` with a BigInt
// `unixSeconds`, `{ path, uri, format }`, `{ dirPath, uri, format }`, ...). `wasmdask_guest.js`
// re-exports these helpers; this module imports nothing, so Node tests it as is.
//
// - `toDate(datetime)` / `fromDate(date)`: a `datetime` record and a JS `Date` (which holds
//   milliseconds: nanoseconds below that are dropped);
// - `toMillis(duration)` / `fromMillis(ms)`: a `duration` record and a number of milliseconds;
// - `fileByUri(directory, name)`: the file `name` of an input directory, known by its URI, to
//   pass to a subtask (which fetches only that file where it runs).
//
// componentize-js's runtime (StarlingMonkey) has no file API, so a JavaScript task can take and
// pass files, directories and datasets but not open them; read them in a Rust, Python or C task.

const NANOS_PER_MILLI = 1_000_000;

/** A `datetime` record as a `Date`. */
export function toDate(datetime) {
  const millis = BigInt(datetime.unixSeconds) * 1000n + BigInt(Math.floor(datetime.nanos / NANOS_PER_MILLI));
  return new Date(Number(millis));
}

/** A `Date` as a `datetime` record (nanos count forward, also before 1970). */
export function fromDate(date) {
  const millis = date.getTime();
  if (!Number.isFinite(millis)) {
    throw new RangeError(`${date} is not a valid Date`);
  }
  const seconds = Math.floor(millis / 1000);
  return { unixSeconds: BigInt(seconds), nanos: (millis - seconds * 1000) * NANOS_PER_MILLI };
}

/** A `duration` record as a number of milliseconds. */
export function toMillis(duration) {
  return Number(duration.seconds) * 1000 + duration.nanos / NANOS_PER_MILLI;
}

/** A number of milliseconds (whole, or with a fraction down to nanoseconds) as a `duration`
 * record, whose seconds and nanos have the same sign. */
export function fromMillis(millis) {
  const seconds = Math.trunc(millis / 1000);
  const nanos = Math.round((millis - seconds * 1000) * NANOS_PER_MILLI);
  return { seconds: BigInt(seconds), nanos };
}

/** The file `name` of `directory`, known by its URI (`<uri>/<name>`). */
export function fileByUri(directory, name) {
  return { path: '', uri: `${directory.uri.replace(/\/+$/, '')}/${name}`, format: '' };
}
