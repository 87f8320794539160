// Tests of wasmdask_data.js (plain Node): node --test guest-sdk/js/test_wasmdask_data.mjs

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { fileByUri, fromDate, fromMillis, toDate, toMillis } from './wasmdask_data.js';

test('datetimes convert to and from Date on both sides of the epoch', () => {
  const cases = [
    [{ unixSeconds: 1714566600n, nanos: 123_000_000 }, '2024-05-01T12:30:00.123Z'],
    [{ unixSeconds: -1n, nanos: 999_000_000 }, '1969-12-31T23:59:59.999Z'],
    [{ unixSeconds: 0n, nanos: 0 }, '1970-01-01T00:00:00.000Z'],
  ];
  for (const [record, iso] of cases) {
    assert.equal(toDate(record).toISOString(), iso);
    assert.deepEqual(fromDate(new Date(iso)), record);
  }
  // Below a millisecond is dropped.
  assert.equal(toDate({ unixSeconds: 5n, nanos: 999_999 }).toISOString(), '1970-01-01T00:00:05.000Z');
  assert.throws(() => fromDate(new Date('not a date')), RangeError);
});

test('durations keep seconds and nanos of one sign', () => {
  assert.deepEqual(fromMillis(90_500), { seconds: 90n, nanos: 500_000_000 });
  assert.deepEqual(fromMillis(-1.5), { seconds: 0n, nanos: -1_500_000 });
  assert.deepEqual(fromMillis(-2500), { seconds: -2n, nanos: -500_000_000 });
  assert.equal(toMillis({ seconds: -2n, nanos: -500_000_000 }), -2500);
  assert.equal(toMillis({ seconds: 1n, nanos: 250 }), 1000.00025);
});

test('a file of a directory is named by its URI', () => {
  const shards = { dirPath: '/inputs/0', uri: 's3://b/shards/', format: '' };
  assert.deepEqual(fileByUri(shards, 'a.txt'), { path: '', uri: 's3://b/shards/a.txt', format: '' });
});
