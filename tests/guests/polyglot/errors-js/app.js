// A JavaScript guest whose errors escape: the host must report them with their message.

import { gather, submit } from 'wasmdask:task/cluster@0.1.2';

export function fail(message) {
  throw new Error(message);
}

export function failChild(message) {
  const [result] = gather([submit('fail', JSON.stringify([message]))]);
  return result.tag === 'err' ? `${result.val.kind}: ${result.val.message}` : 'the child did not fail';
}
