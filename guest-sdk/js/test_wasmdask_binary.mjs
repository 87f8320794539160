// Tests of wasmdask_binary.js against the bytes Rust's postcard writes for the same values.
//
// Plain Node, no componentize-js: run from the repository root with
//
//   node --test guest-sdk/js/test_wasmdask_binary.mjs
//
// `cargo test` runs them through tests/it/polyglot.rs. The expected bytes were printed by
// `postcard::to_allocvec` (1.2) of the Rust type that mirrors each WIT type (the same table as
// guest-sdk/python/test_wasmdask_binary.py).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DecodeError, EncodeError, decode, encode, parseType } from './wasmdask_binary.js';

const bytes = (...b) => new Uint8Array(b);
const repeat = (byte, n) => new Array(n).fill(byte);

// [WIT type, JS value (as jco gives it), postcard bytes of the mirroring Rust value]
const POSTCARD = [
  ['u64', 300n, [0xac, 0x02]],
  ['s32', -1, [0x01]],
  ['u64', (1n << 64n) - 1n, [...repeat(255, 9), 1]],
  ['s64', -(1n << 63n), [...repeat(255, 9), 1]],
  ['s64', (1n << 63n) - 1n, [254, ...repeat(255, 8), 1]],
  ['s16', -300, [215, 4]],
  ['u16', 65535, [255, 255, 3]],
  ['u32', 2 ** 32 - 1, [255, 255, 255, 255, 15]],
  ['u8', 255, [255]],
  ['s8', -128, [128]],
  ['bool', true, [1]],
  ['bool', false, [0]],
  ['f32', 1.5, [0, 0, 192, 63]],
  ['f64', -0, [0, 0, 0, 0, 0, 0, 0, 128]],
  ['f64', -Infinity, [0, 0, 0, 0, 0, 0, 240, 255]],
  ['char', 'é', [2, 195, 169]],
  ['char', '€', [3, 226, 130, 172]],
  ['char', '😀', [4, 240, 159, 152, 128]],
  ['string', 'a', [1, 0x61]],
  ['string', 'héllo', [6, 104, 195, 169, 108, 108, 111]],
  ['list<u8>', bytes(1, 2, 3), [3, 1, 2, 3]],
  ['list<f64>', [1.5], [1, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]],
  ['list<string>', ['a', 'bc'], [2, 1, 97, 2, 98, 99]],
  ['option<u32>', 300, [1, 172, 2]],
  ['option<u32>', undefined, [0]],
  ['tuple<string, option<f64>, u64>', ['x', 2.5, 7n], [1, 120, 1, 0, 0, 0, 0, 0, 0, 4, 64, 7]],
  ['result<u64, string>', { tag: 'ok', val: 5n }, [0, 5]],
  ['result<u64, string>', { tag: 'err', val: 'no' }, [1, 2, 110, 111]],
  ['result<_, string>', { tag: 'err', val: 'e' }, [1, 1, 101]],
  ['result<_, string>', { tag: 'ok', val: undefined }, [0]],
  ['list<u8, 3>', bytes(9, 8, 7), [9, 8, 7]],
  ['list<u16, 2>', [300, 1], [172, 2, 1]],
  ['list<tuple<u32, bool>>', [[1, true], [200, false]], [2, 1, 1, 200, 1, 0]],
  ['list<list<s64>>', [[-2n], []], [2, 1, 3, 0]],
  ['list<u8>', new Uint8Array(200), [200, 1, ...repeat(0, 200)]],
];

test('encodes as postcard', () => {
  for (const [type, value, expected] of POSTCARD) {
    assert.deepEqual([...encode(type, value)], expected, `${type} ${String(value)}`);
  }
});

test('decodes postcard', () => {
  for (const [type, value, expected] of POSTCARD) {
    // deepStrictEqual tells -0 from 0 (Object.is), so the sign of -0.0 is checked too.
    assert.deepEqual(decode(type, bytes(...expected)), value, `${type} ${String(value)}`);
  }
});

test('NaN crosses with its bits', () => {
  const data = encode('f64', NaN);
  assert.deepEqual([...data], [0, 0, 0, 0, 0, 0, 248, 127]);
  assert.ok(Number.isNaN(decode('f64', data)));
});

test('conveniences: safe integers for u64, BigInt for u32, null for none, arrays of bytes', () => {
  assert.deepEqual([...encode('u64', 300)], [0xac, 0x02]);
  assert.deepEqual([...encode('u32', 300n)], [0xac, 0x02]);
  assert.deepEqual([...encode('option<u8>', null)], [0]);
  assert.deepEqual([...encode('list<u8>', [7, 8])], [2, 7, 8]);
  assert.deepEqual([...encode('list<u32>', new Set([1, 2]))], [2, 1, 2]);
});

test('records are tuples of their fields', () => {
  // The example's `bucket` record: lower: f64, upper: f64, count: u32.
  const bucket = 'tuple<f64, f64, u32>';
  assert.deepEqual(decode(bucket, encode(bucket, [0, 1, 3])), [0, 1, 3]);
});

test('type text: spacing and nesting', () => {
  assert.deepEqual(parseType(' list < tuple<string,option< f64 >> > '), {
    kind: 'list',
    element: {
      kind: 'tuple',
      elements: [{ kind: 'string' }, { kind: 'option', inner: { kind: 'f64' } }],
    },
  });
  assert.deepEqual(parseType('result'), { kind: 'result', ok: null, err: null });
  assert.deepEqual(parseType('result<u8>'), { kind: 'result', ok: { kind: 'u8' }, err: null });
  assert.deepEqual(parseType('list<u8, 4>'), { kind: 'array', element: { kind: 'u8' }, length: 4 });
});

test('unknown and malformed types are named', () => {
  for (const [text, words] of [
    ['stats', "unknown type 'stats'"],
    ['list<u8', "expected '>'"],
    ['u64 u64', 'unexpected text'],
    ['', 'expected a type'],
    ['list<u8, n>', 'length'],
  ]) {
    assert.throws(
      () => parseType(text),
      (e) => e instanceof EncodeError && e.message.includes(words),
      text,
    );
  }
});

test('values that do not fit are refused', () => {
  for (const [type, value, words] of [
    ['u8', 256, 'out of range 0..=255'],
    ['u64', -1n, 'out of range'],
    ['s8', 128, 'out of range -128..=127'],
    ['u32', 1.5, 'expected an integer, not number'],
    ['u64', 2 ** 60, 'expected an integer'],
    ['u32', true, 'expected an integer, not boolean'],
    ['bool', 1, 'expected a boolean'],
    ['f64', '1.5', 'expected a number'],
    ['char', 'ab', 'one character'],
    ['string', 1, 'expected a string'],
    ['list<u64>', 'abc', 'expected an array'],
    ['list<u8, 2>', bytes(1, 2, 3), '3 bytes, not 2'],
    ['tuple<u8, u8>', [1], 'array of 2'],
    ['result<u8, string>', 1, "{ tag: 'ok', val }"],
    ['result<_, string>', { tag: 'ok', val: 1 }, 'no payload'],
    ['string', '\ud800', 'surrogate'],
  ]) {
    assert.throws(
      () => encode(type, value),
      (e) => e instanceof EncodeError && e.message.includes(words),
      `${type} ${String(value)}`,
    );
  }
});

test('nested mismatches say where', () => {
  assert.throws(
    () => encode('list<tuple<string, u8>>', [['a', 1], ['b', 300]]),
    (e) => e.message.includes('the value[1][1] (300) is not a u8'),
  );
});

test('bad bytes are refused', () => {
  for (const [type, data, words] of [
    ['u64', [0xac], 'the data ends'],
    ['u64', [1, 2], '1 of the 2 bytes are left over'],
    ['u16', [0xff, 0xff, 4], 'larger than a u16'],
    ['u64', [...repeat(0xff, 10), 1], 'longer than a u64'],
    ['bool', [2], 'a bool byte of 2'],
    ['option<u8>', [2], 'an option tag of 2'],
    ['result<u8, u8>', [2, 0], 'a result tag of 2'],
    ['string', [1, 0xff], 'not UTF-8'],
    ['string', [2, 0xc0, 0x80], 'not UTF-8'],
    ['string', [3, 0xed, 0xa0, 0x80], 'not UTF-8'],
    ['char', [2, 97, 98], 'a char of 2 characters'],
    ['list<u64>', [5, 1], 'a length of 5'],
  ]) {
    assert.throws(
      () => decode(type, bytes(...data)),
      (e) => e instanceof DecodeError && e.message.includes(words),
      `${type} ${data}`,
    );
  }
});
