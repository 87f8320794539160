// A JavaScript guest whose errors escape: the host must report them with their message.
// `poke` probes isolation: state a call leaves at module level must not reach the next call.

import { gather, submit } from 'wasmdask:task/cluster@0.1.3';

export function fail(message) {
  throw new Error(message);
}

export function failChild(message) {
  const [result] = gather([submit('fail', JSON.stringify([message]))]);
  return result.tag === 'err' ? `${result.val.kind}: ${result.val.message}` : 'the child did not fail';
}

// Marks `poke` leaves: a counter and a block of memory, both reachable after the call returns.
let count = 0;
let block = null;

export function poke(times) {
  let seen = 0;
  for (let round = 0; round < times; round++) {
    seen = count + (block === null ? 0 : block[block.length - 1]);
    count += 1;
    block = new Uint8Array(1 << 20).fill(7);
  }
  return seen;
}
