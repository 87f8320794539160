// The binary value encoding of wasmdask in plain JavaScript: WIT type text in, bytes out and back.
//
// `wasmdask build` stages this module next to a JavaScript task with `wasmdask_guest.js` (which
// uses it for `value`, `take` and `gatherBinary`). It imports nothing, so it also runs under Node
// (see `test_wasmdask_binary.mjs`):
//
//   encode('u64', 300n)                            // Uint8Array [0xac, 0x02]
//   decode('list<f64>', new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f]))   // [1.5]
//
// The encoding is the postcard wire format of the Rust type that mirrors the WIT type (see the
// top of `wit/wasmdask.wit`). A type is given as WIT text; the values are those jco uses for the
// same WIT types:
//
//   bool                  boolean
//   u8..u32, s8..s32      number (an integer; a BigInt is accepted when encoding)
//   u64, s64              BigInt (a safe-integer number is accepted when encoding)
//   f32, f64              number; non-finite values as they are
//   char                  a string of one code point
//   string                string
//   list<u8>              Uint8Array (any array of bytes when encoding)
//   list<T>               Array (any iterable when encoding)
//   list<T, N>            Array of exactly N elements (Uint8Array for list<u8, N>)
//   option<T>             undefined (or null when encoding) for none, else the value
//   tuple<A, B, ..>       Array
//   result<T, E>          { tag: 'ok', val } or { tag: 'err', val }; `result<_, E>`, `result<T>`
//                         and `result` have `val: undefined` for a missing payload
//
// Records, variants, enums and flags need their definitions, which WIT type text does not carry:
// spell a record as the `tuple` of its fields in WIT order (the encoding is the same).
// Strings are encoded and checked as UTF-8 here, not with TextEncoder, so a lone surrogate is an
// error instead of turning into U+FFFD.

/** A value does not fit the WIT type it is encoded as, or the type text is not understood. */
export class EncodeError extends Error {
  constructor(message) {
    super(message);
    this.name = 'EncodeError';
  }
}

/** Bytes are not a valid encoding of the WIT type they are decoded as. */
export class DecodeError extends Error {
  constructor(message) {
    super(message);
    this.name = 'DecodeError';
  }
}

// Integers: name → [bits, signed].
const INTEGERS = {
  u8: [8, false],
  u16: [16, false],
  u32: [32, false],
  u64: [64, false],
  s8: [8, true],
  s16: [16, true],
  s32: [32, true],
  s64: [64, true],
};
const PRIMITIVES = new Set([...Object.keys(INTEGERS), 'bool', 'f32', 'f64', 'char', 'string']);
const MASK64 = (1n << 64n) - 1n;

// ---------------------------------------------------------------------------------------------
// WIT type text

// A parsed type: { kind, ... }:
//   { kind: 'u64' } ... { kind: 'list', element } { kind: 'array', element, length }
//   { kind: 'option', inner } { kind: 'tuple', elements } { kind: 'result', ok, err } (null: none)
const parsed = new Map();

/** Parses WIT type text such as `list<tuple<string, option<f64>>>` (cached per text). */
export function parseType(text) {
  if (typeof text !== 'string') {
    throw new EncodeError(`a WIT type is text such as 'list<u64>', not ${typeof text}`);
  }
  let type = parsed.get(text);
  if (type === undefined) {
    const parser = new Parser(text);
    type = parser.type();
    parser.end();
    parsed.set(text, type);
  }
  return type;
}

class Parser {
  constructor(text) {
    this.text = text;
    this.pos = 0;
  }

  fail(what) {
    return new EncodeError(
      `cannot read the WIT type '${this.text}': ${what} at offset ${this.pos}`,
    );
  }

  skipSpace() {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  name() {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.text.length && /[A-Za-z0-9_-]/.test(this.text[this.pos])) this.pos++;
    if (start === this.pos) throw this.fail('expected a type');
    return this.text.slice(start, this.pos);
  }

  peek(char) {
    this.skipSpace();
    return this.text.startsWith(char, this.pos);
  }

  expect(char) {
    if (!this.peek(char)) throw this.fail(`expected '${char}'`);
    this.pos++;
  }

  end() {
    this.skipSpace();
    if (this.pos !== this.text.length) throw this.fail('unexpected text after the type');
  }

  type() {
    const name = this.name();
    if (PRIMITIVES.has(name)) return { kind: name };
    if (name === 'list') {
      this.expect('<');
      const element = this.type();
      if (this.peek(',')) {
        this.pos++;
        const length = this.name();
        if (!/^[0-9]+$/.test(length)) throw this.fail('expected the length of a fixed-size list');
        this.expect('>');
        return { kind: 'array', element, length: Number(length) };
      }
      this.expect('>');
      return { kind: 'list', element };
    }
    if (name === 'option') {
      this.expect('<');
      const inner = this.type();
      this.expect('>');
      return { kind: 'option', inner };
    }
    if (name === 'tuple') {
      this.expect('<');
      const elements = [this.type()];
      while (this.peek(',')) {
        this.pos++;
        elements.push(this.type());
      }
      this.expect('>');
      return { kind: 'tuple', elements };
    }
    if (name === 'result') {
      if (!this.peek('<')) return { kind: 'result', ok: null, err: null };
      this.pos++;
      let ok = null;
      this.skipSpace();
      if (this.text.startsWith('_', this.pos)) this.pos++;
      else ok = this.type();
      let err = null;
      if (this.peek(',')) {
        this.pos++;
        err = this.type();
      }
      this.expect('>');
      return { kind: 'result', ok, err };
    }
    throw this.fail(
      `unknown type '${name}' (records, variants, enums and flags need their definitions: ` +
        'spell a record as the tuple of its fields in WIT order)',
    );
  }
}

/** A parsed type as WIT text again, for messages. */
function show(type) {
  switch (type.kind) {
    case 'list':
      return `list<${show(type.element)}>`;
    case 'array':
      return `list<${show(type.element)}, ${type.length}>`;
    case 'option':
      return `option<${show(type.inner)}>`;
    case 'tuple':
      return `tuple<${type.elements.map(show).join(', ')}>`;
    case 'result':
      if (type.ok === null && type.err === null) return 'result';
      if (type.err === null) return `result<${show(type.ok)}>`;
      return `result<${type.ok === null ? '_' : show(type.ok)}, ${show(type.err)}>`;
    default:
      return type.kind;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/** A growable byte buffer. */
class Writer {
  constructor() {
    this.bytes = new Uint8Array(64);
    this.len = 0;
  }

  reserve(count) {
    if (this.len + count <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.len + count));
    grown.set(this.bytes.subarray(0, this.len));
    this.bytes = grown;
  }

  byte(b) {
    this.reserve(1);
    this.bytes[this.len++] = b;
  }

  all(chunk) {
    this.reserve(chunk.length);
    this.bytes.set(chunk, this.len);
    this.len += chunk.length;
  }

  /** An unsigned LEB128 varint of a non-negative number (up to 2^53) or BigInt. */
  varint(n) {
    if (typeof n === 'bigint') {
      while (n >= 0x80n) {
        this.byte(Number(n & 0x7fn) | 0x80);
        n >>= 7n;
      }
      this.byte(Number(n));
      return;
    }
    while (n >= 0x80) {
      this.byte((n % 0x80) | 0x80);
      n = Math.floor(n / 0x80);
    }
    this.byte(n);
  }

  finish() {
    return this.bytes.slice(0, this.len);
  }
}

/**
 * The binary encoding of `value` as the WIT type `type` (text, or from `parseType`).
 * Throws `EncodeError` when the value does not fit the type, naming where in the value.
 */
export function encode(type, value) {
  const parsedType = typeof type === 'string' ? parseType(type) : type;
  const out = new Writer();
  encodeInto(parsedType, value, out, 'the value');
  return out.finish();
}

function describe(value) {
  let text;
  try {
    text = typeof value === 'bigint' ? `${value}n` : JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function mismatch(type, value, where, why) {
  const because = why ? `: ${why}` : '';
  return new EncodeError(`${where} (${describe(value)}) is not a ${show(type)}${because}`);
}

function typeName(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function isBytes(value) {
  return value instanceof Uint8Array || value instanceof ArrayBuffer || ArrayBuffer.isView(value);
}

function asBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function encodeInto(type, value, out, where) {
  const kind = type.kind;
  const integer = INTEGERS[kind];
  if (integer !== undefined) {
    const [bits, signed] = integer;
    let n;
    if (typeof value === 'bigint') n = value;
    else if (typeof value === 'number' && Number.isSafeInteger(value)) n = BigInt(value);
    else throw mismatch(type, value, where, `expected an integer, not ${typeName(value)}`);
    const low = signed ? -(1n << BigInt(bits - 1)) : 0n;
    const high = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
    if (n < low || n > high) throw mismatch(type, value, where, `out of range ${low}..=${high}`);
    if (bits === 8) {
      out.byte(Number(n & 0xffn));
    } else if (signed) {
      // Zigzag: 0, -1, 1, -2, ... become 0, 1, 2, 3, ...
      out.varint(((n << 1n) ^ (n >> BigInt(bits - 1))) & ((1n << BigInt(bits)) - 1n));
    } else {
      out.varint(bits === 64 ? n : Number(n));
    }
    return;
  }
  switch (kind) {
    case 'bool':
      if (typeof value !== 'boolean') {
        throw mismatch(type, value, where, `expected a boolean, not ${typeName(value)}`);
      }
      out.byte(value ? 1 : 0);
      return;
    case 'f32':
    case 'f64': {
      if (typeof value !== 'number') {
        throw mismatch(type, value, where, `expected a number, not ${typeName(value)}`);
      }
      const size = kind === 'f32' ? 4 : 8;
      const view = new DataView(new ArrayBuffer(size));
      if (kind === 'f32') view.setFloat32(0, value, true);
      else view.setFloat64(0, value, true);
      out.all(new Uint8Array(view.buffer));
      return;
    }
    case 'char':
      if (typeof value !== 'string' || [...value].length !== 1) {
        throw mismatch(type, value, where, 'expected a string of one character');
      }
      encodeText(value, out, type, where);
      return;
    case 'string':
      if (typeof value !== 'string') {
        throw mismatch(type, value, where, `expected a string, not ${typeName(value)}`);
      }
      encodeText(value, out, type, where);
      return;
    case 'list':
    case 'array': {
      const element = type.element;
      if (element.kind === 'u8' && isBytes(value)) {
        const bytes = asBytes(value);
        if (kind === 'list') out.varint(bytes.length);
        else if (bytes.length !== type.length) {
          throw mismatch(type, value, where, `${bytes.length} bytes, not ${type.length}`);
        }
        out.all(bytes);
        return;
      }
      if (typeof value === 'string' || typeof value?.[Symbol.iterator] !== 'function') {
        throw mismatch(type, value, where, `expected an array, not ${typeName(value)}`);
      }
      const items = Array.isArray(value) ? value : [...value];
      if (kind === 'list') out.varint(items.length);
      else if (items.length !== type.length) {
        throw mismatch(type, value, where, `${items.length} elements, not ${type.length}`);
      }
      items.forEach((item, index) => encodeInto(element, item, out, `${where}[${index}]`));
      return;
    }
    case 'option':
      if (value === undefined || value === null) {
        out.byte(0);
      } else {
        out.byte(1);
        encodeInto(type.inner, value, out, where);
      }
      return;
    case 'tuple':
      if (!Array.isArray(value) || value.length !== type.elements.length) {
        throw mismatch(type, value, where, `expected an array of ${type.elements.length} elements`);
      }
      type.elements.forEach((element, index) =>
        encodeInto(element, value[index], out, `${where}[${index}]`),
      );
      return;
    case 'result': {
      const tag = value?.tag;
      if (tag !== 'ok' && tag !== 'err') {
        throw mismatch(type, value, where, "expected { tag: 'ok', val } or { tag: 'err', val }");
      }
      const payload = tag === 'ok' ? type.ok : type.err;
      out.byte(tag === 'ok' ? 0 : 1);
      if (payload === null) {
        if (value.val !== undefined && value.val !== null) {
          throw mismatch(type, value, where, `its ${tag} case has no payload`);
        }
      } else {
        encodeInto(payload, value.val, out, `${where}.val`);
      }
      return;
    }
    default:
      throw new EncodeError(`cannot encode the WIT type ${show(type)}`);
  }
}

/** Varint byte length, then the UTF-8 of `text`; a lone surrogate is an error. */
function encodeText(text, out, type, where) {
  const bytes = [];
  for (let i = 0; i < text.length; i++) {
    let code = text.charCodeAt(i);
    if (code >= 0xd800 && code <= 0xdfff) {
      const next = text.charCodeAt(i + 1);
      if (code > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) {
        throw mismatch(type, text, where, 'a lone surrogate is not Unicode text');
      }
      code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
      i++;
    }
    if (code < 0x80) bytes.push(code);
    else if (code < 0x800) bytes.push(0xc0 | (code >> 6), 0x80 | (code & 0x3f));
    else if (code < 0x10000) {
      bytes.push(0xe0 | (code >> 12), 0x80 | ((code >> 6) & 0x3f), 0x80 | (code & 0x3f));
    } else {
      bytes.push(
        0xf0 | (code >> 18),
        0x80 | ((code >> 12) & 0x3f),
        0x80 | ((code >> 6) & 0x3f),
        0x80 | (code & 0x3f),
      );
    }
  }
  out.varint(bytes.length);
  out.all(bytes);
}

// ---------------------------------------------------------------------------------------------
// Decoding

/**
 * The value of the WIT type `type` encoded in all of `bytes` (a Uint8Array or any byte view).
 * Throws `DecodeError` when the bytes are not such a value or some are left over.
 */
export function decode(type, bytes) {
  const parsedType = typeof type === 'string' ? parseType(type) : type;
  const reader = new Reader(asBytes(bytes), parsedType);
  const value = reader.value(parsedType);
  if (reader.pos !== reader.bytes.length) {
    throw new DecodeError(
      `${reader.bytes.length - reader.pos} of the ${reader.bytes.length} bytes are left over ` +
        `after a ${show(parsedType)}: the bytes are of another type`,
    );
  }
  return value;
}

class Reader {
  constructor(bytes, whole) {
    this.bytes = bytes;
    this.pos = 0;
    this.whole = whole;
  }

  fail(what) {
    return new DecodeError(
      `the bytes are not a ${show(this.whole)}: ${what} ` +
        `at byte ${this.pos} of ${this.bytes.length}`,
    );
  }

  take(count) {
    if (count > this.bytes.length - this.pos) {
      throw this.fail(`${count} more bytes needed, the data ends`);
    }
    const chunk = this.bytes.subarray(this.pos, this.pos + count);
    this.pos += count;
    return chunk;
  }

  byte() {
    return this.take(1)[0];
  }

  /** An unsigned LEB128 varint of at most `bits` bits, as a BigInt. */
  varint(bits) {
    let value = 0n;
    let shift = 0n;
    const start = this.pos;
    for (;;) {
      const byte = this.byte();
      value |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) break;
      shift += 7n;
      if (shift >= BigInt(bits)) {
        // ceil(bits / 7) bytes at most: 3 for a u16, 5 for a u32, 10 for a u64.
        this.pos = start;
        throw this.fail(`a varint longer than a u${bits}`);
      }
    }
    if (value >> BigInt(bits)) {
      this.pos = start;
      throw this.fail(`a varint larger than a u${bits}`);
    }
    return value;
  }

  length() {
    const count = this.varint(64);
    // Every element of a WIT list takes at least one byte: refuse lengths past the data.
    if (count > BigInt(this.bytes.length - this.pos)) {
      throw this.fail(`a length of ${count} with ${this.bytes.length - this.pos} bytes left`);
    }
    return Number(count);
  }

  value(type) {
    const kind = type.kind;
    const integer = INTEGERS[kind];
    if (integer !== undefined) {
      const [bits, signed] = integer;
      if (bits === 8) {
        const byte = this.byte();
        return signed && byte > 127 ? byte - 256 : byte;
      }
      const raw = this.varint(bits);
      const n = signed ? (raw >> 1n) ^ -(raw & 1n) : raw;
      return bits === 64 ? n : Number(n);
    }
    switch (kind) {
      case 'bool': {
        const byte = this.byte();
        if (byte > 1) {
          this.pos--;
          throw this.fail(`a bool byte of ${byte}`);
        }
        return byte === 1;
      }
      case 'f32':
      case 'f64': {
        const size = kind === 'f32' ? 4 : 8;
        const chunk = this.take(size);
        const view = new DataView(chunk.buffer, chunk.byteOffset, size);
        return kind === 'f32' ? view.getFloat32(0, true) : view.getFloat64(0, true);
      }
      case 'char':
      case 'string': {
        const start = this.pos;
        const text = this.utf8(this.take(this.length()), start);
        if (kind === 'char' && [...text].length !== 1) {
          this.pos = start;
          throw this.fail(`a char of ${[...text].length} characters`);
        }
        return text;
      }
      case 'list':
      case 'array': {
        const count = kind === 'list' ? this.length() : type.length;
        if (type.element.kind === 'u8') return this.take(count).slice();
        const items = new Array(count);
        for (let i = 0; i < count; i++) items[i] = this.value(type.element);
        return items;
      }
      case 'option': {
        const tag = this.byte();
        if (tag === 0) return undefined;
        if (tag !== 1) {
          this.pos--;
          throw this.fail(`an option tag of ${tag}`);
        }
        return this.value(type.inner);
      }
      case 'tuple':
        return type.elements.map((element) => this.value(element));
      case 'result': {
        const tag = this.varint(32);
        if (tag > 1n) throw this.fail(`a result tag of ${tag}`);
        const payload = tag === 0n ? type.ok : type.err;
        const val = payload === null ? undefined : this.value(payload);
        return { tag: tag === 0n ? 'ok' : 'err', val };
      }
      default:
        throw this.fail(`the unsupported WIT type ${show(type)}`);
    }
  }

  /** Strict UTF-8: no overlong forms, surrogates or code points past U+10FFFF. */
  utf8(bytes, start) {
    let text = '';
    for (let i = 0; i < bytes.length; ) {
      const b0 = bytes[i];
      let code;
      let size;
      if (b0 < 0x80) {
        code = b0;
        size = 1;
      } else if (b0 >= 0xc2 && b0 < 0xe0) {
        code = b0 & 0x1f;
        size = 2;
      } else if (b0 >= 0xe0 && b0 < 0xf0) {
        code = b0 & 0x0f;
        size = 3;
      } else if (b0 >= 0xf0 && b0 < 0xf5) {
        code = b0 & 0x07;
        size = 4;
      } else {
        size = 0;
      }
      for (let k = 1; k < size; k++) {
        const b = bytes[i + k];
        if (b === undefined || (b & 0xc0) !== 0x80) {
          size = 0;
          break;
        }
        code = (code << 6) | (b & 0x3f);
      }
      const minimum = [0, 0, 0x80, 0x800, 0x10000][size];
      if (size === 0 || code < minimum || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        this.pos = start;
        throw this.fail('text that is not UTF-8');
      }
      text += String.fromCodePoint(code);
      i += size;
    }
    return text;
  }
}
