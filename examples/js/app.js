// Example wasmdask tasks in JavaScript: the same tasks, with the same results, as examples/rust.
//
// The signatures are in wit/world.wit (shared with the Rust example); `wasmdask build examples/js`
// compiles this module with componentize-js into a component. WIT names become camelCase
// (`sum-of-squares` → `sumOfSquares`), u64 values are BigInts, `option` is a value or
// `undefined`, records are plain objects, and throwing from an export that returns
// `result<T, string>` returns the thrown string as its `err`.
//
// The JSON cluster functions are imported from the WIT interface as they are; the binary ones
// come through `wasmdask_guest.js`, the guest SDK's helper that `wasmdask build` stages next to
// this file (it encodes and decodes values by their WIT type, given as text).

import { gather, map } from 'wasmdask:task/cluster@0.1.3';
import { log } from 'wasmdask:task/log@0.1.3';
import { TaskFailed, release, submitWith, take, value } from './wasmdask_guest.js';

const U64 = (1n << 64n) - 1n;

// `rounds` chained splitmix64 mixing steps from `seed` (see examples/rust/src/kernel.rs).
export function hashRounds(seed, rounds) {
  let state = seed;
  for (let i = 0; i < rounds; i++) {
    state = mix((state + 0x9e3779b97f4a7c15n) & U64);
  }
  return state;
}

export function square(x) {
  return (x * x) & U64;
}

export function sumOfSquares(n) {
  log('info', `squaring 1..=${n} on the cluster`);
  const args = [];
  for (let x = 1; x <= n; x++) args.push(JSON.stringify([x]));
  let total = 0n;
  // One `square` task per number; each result is the JSON text of a u64.
  for (const result of gather(map('square', args))) {
    if (result.tag === 'err') throw `${result.val.kind}: ${result.val.message}`;
    total += BigInt(result.val);
  }
  if (total > U64) throw `the sum of squares of 1..=${n} overflows u64`;
  return total;
}

export function squareTwice(x) {
  try {
    // Arguments in the binary encoding: `value` encodes x as square's parameter type.
    const inner = submitWith('square', [value('u64', x)]);
    // The inner call's handle as the argument: its result goes to the outer call where it lies,
    // without entering this task.
    const outer = submitWith('square', [inner]);
    release([inner]); // the outer call still gets it; nothing here needs it any more
    // The result in the binary encoding too: a u64 varint, decoded by its WIT type to a BigInt.
    return take(outer, 'u64');
  } catch (error) {
    throw error instanceof TaskFailed ? error.message : error;
  }
}

export function summarize(samples, label) {
  const bounds = minMax(samples);
  return {
    count: samples.length,
    mean: samples.length > 0 ? sum(samples) / samples.length : undefined,
    min: bounds?.[0],
    max: bounds?.[1],
    label: label ?? 'unnamed',
  };
}

export function histogram(samples, buckets) {
  if (buckets === 0) throw 'buckets must be at least 1';
  for (const x of samples) {
    if (!Number.isFinite(x)) throw `samples must be finite numbers, found ${show(x)}`;
  }
  const bounds = minMax(samples);
  if (bounds === undefined) throw 'cannot build a histogram of no samples';
  const [low, high] = bounds;
  const width = (high - low) / buckets;
  // The last bound is exactly `high`, whatever the rounding of `low + width * buckets`.
  const bound = (i) => (i === buckets ? high : low + width * i);
  const counts = new Array(buckets).fill(0);
  for (const x of samples) {
    // When all samples are equal, width is 0 and they all go to the first bucket.
    const index = width > 0 ? Math.trunc((x - low) / width) : 0;
    counts[Math.min(index, buckets - 1)] += 1;
  }
  return counts.map((count, i) => ({ lower: bound(i), upper: bound(i + 1), count }));
}

// splitmix64's output function, on BigInts masked to 64 bits.
function mix(z) {
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & U64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & U64;
  return z ^ (z >> 31n);
}

// Left-to-right sum, as Rust's `Iterator::sum` adds (from -0.0), so means match to the last bit.
function sum(samples) {
  let total = -0;
  for (const x of samples) total += x;
  return total;
}

// The smallest and largest sample, ignoring NaN; undefined when there is none.
function minMax(samples) {
  let bounds;
  for (const x of samples) {
    if (Number.isNaN(x)) continue;
    if (bounds === undefined) bounds = [x, x];
    else if (x < bounds[0]) bounds[0] = x;
    else if (x > bounds[1]) bounds[1] = x;
  }
  return bounds;
}

// A non-finite number spelled as Rust prints it, so messages match across languages.
function show(x) {
  return Number.isNaN(x) ? 'NaN' : x > 0 ? 'inf' : '-inf';
}
