// A small JSON reader for filter configuration: objects, arrays, strings (with escapes), numbers, booleans,
// null. Configurations are small and read once in onConfigure, so clarity beats speed here.
import { jsonEscape } from "./util";

export enum JsonKind {
  Null = 0,
  Bool = 1,
  Number = 2,
  String = 3,
  Array = 4,
  Object = 5,
}

// Scalars share these empty containers (never written: the parser gives arrays and objects their own), so
// parsing a verifier's answer per request does not allocate two arrays and a map for every string in it.
const NO_ITEMS = new Array<JsonValue>(0);
const NO_KEYS = new Array<string>(0);
const NO_FIELDS = new Map<string, JsonValue>();

export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  bool: bool = false;
  num: f64 = 0;
  str: string = "";
  items: Array<JsonValue> = NO_ITEMS;
  keys: Array<string> = NO_KEYS;
  fields: Map<string, JsonValue> = NO_FIELDS;

  isString(): bool {
    return this.kind == JsonKind.String;
  }

  isArray(): bool {
    return this.kind == JsonKind.Array;
  }

  isObject(): bool {
    return this.kind == JsonKind.Object;
  }

  /** A field of an object; null when absent or when this is not an object. */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Object || !this.fields.has(key)) return null;
    return this.fields.get(key);
  }

  /** A string field, or null when absent or not a string. */
  getString(key: string): string | null {
    const v = this.get(key);
    if (v == null || v.kind != JsonKind.String) return null;
    return v.str;
  }
}

class Parser {
  pos: i32 = 0;
  failed: bool = false;

  constructor(public text: string) {}

  peek(): i32 {
    return this.pos < this.text.length ? this.text.charCodeAt(this.pos) : -1;
  }

  skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      this.pos++;
    }
  }

  fail(): JsonValue {
    this.failed = true;
    return new JsonValue();
  }

  literal(word: string): bool {
    if (this.pos + word.length > this.text.length) return false;
    for (let i = 0; i < word.length; i++) if (this.text.charCodeAt(this.pos + i) != word.charCodeAt(i)) return false;
    this.pos += word.length;
    return true;
  }

  value(depth: i32): JsonValue {
    // Deep nesting in a filter configuration is a mistake or an attack: stop before the stack does.
    if (depth > 64) return this.fail();
    this.skipSpace();
    const c = this.peek();
    if (c == 0x7b) return this.object(depth);
    if (c == 0x5b) return this.array(depth);
    const v = new JsonValue();
    if (c == 0x22) {
      v.kind = JsonKind.String;
      v.str = this.string();
      return v;
    }
    if (this.literal("true")) {
      v.kind = JsonKind.Bool;
      v.bool = true;
      return v;
    }
    if (this.literal("false")) {
      v.kind = JsonKind.Bool;
      return v;
    }
    if (this.literal("null")) return v;
    if (c == 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = this.pos;
      this.pos++;
      while (this.pos < this.text.length) {
        const d = this.text.charCodeAt(this.pos);
        if ((d >= 0x30 && d <= 0x39) || d == 0x2e || d == 0x65 || d == 0x45 || d == 0x2b || d == 0x2d) this.pos++;
        else break;
      }
      v.kind = JsonKind.Number;
      v.num = parseFloat(this.text.substring(start, this.pos));
      return v;
    }
    return this.fail();
  }

  string(): string {
    this.pos++; // opening quote
    let out = "";
    let start = this.pos;
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c == 0x22) {
        out += this.text.substring(start, this.pos);
        this.pos++;
        return out;
      }
      if (c == 0x5c) {
        out += this.text.substring(start, this.pos);
        this.pos++;
        const e = this.peek();
        this.pos++;
        if (e == 0x6e) out += "\n";
        else if (e == 0x74) out += "\t";
        else if (e == 0x72) out += "\r";
        else if (e == 0x62) out += "\b";
        else if (e == 0x66) out += "\f";
        else if (e == 0x75) {
          const code = I32.parseInt(this.text.substr(this.pos, 4), 16);
          out += String.fromCharCode(code);
          this.pos += 4;
        } else out += String.fromCharCode(e);
        start = this.pos;
        continue;
      }
      this.pos++;
    }
    this.failed = true;
    return out;
  }

  array(depth: i32): JsonValue {
    const v = new JsonValue();
    v.kind = JsonKind.Array;
    v.items = new Array<JsonValue>();
    this.pos++;
    this.skipSpace();
    if (this.peek() == 0x5d) {
      this.pos++;
      return v;
    }
    while (!this.failed) {
      v.items.push(this.value(depth + 1));
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x5d) return v;
      if (c != 0x2c) return this.fail();
    }
    return v;
  }

  object(depth: i32): JsonValue {
    const v = new JsonValue();
    v.kind = JsonKind.Object;
    v.keys = new Array<string>();
    v.fields = new Map<string, JsonValue>();
    this.pos++;
    this.skipSpace();
    if (this.peek() == 0x7d) {
      this.pos++;
      return v;
    }
    while (!this.failed) {
      this.skipSpace();
      if (this.peek() != 0x22) return this.fail();
      const key = this.string();
      this.skipSpace();
      if (this.peek() != 0x3a) return this.fail();
      this.pos++;
      const field = this.value(depth + 1);
      if (!v.fields.has(key)) v.keys.push(key);
      v.fields.set(key, field);
      this.skipSpace();
      const c = this.peek();
      this.pos++;
      if (c == 0x7d) return v;
      if (c != 0x2c) return this.fail();
    }
    return v;
  }
}

/** Parses a JSON document; null when it is not valid JSON. */
export function parseJson(text: string): JsonValue | null {
  const parser = new Parser(text);
  const v = parser.value(0);
  parser.skipSpace();
  if (parser.failed || parser.pos != text.length) return null;
  return v;
}

/** A number field, or `fallback` when absent or not a number. */
export function numberField(value: JsonValue, key: string, fallback: f64): f64 {
  const v = value.get(key);
  if (v == null || v.kind != JsonKind.Number) return fallback;
  return v.num;
}

/** A string-array field; null when absent, not an array, or holding a non-string. */
export function stringArrayField(value: JsonValue, key: string): Array<string> | null {
  const v = value.get(key);
  if (v == null || !v.isArray()) return null;
  const out = new Array<string>();
  for (let i = 0; i < v.items.length; i++) {
    if (!v.items[i].isString()) return null;
    out.push(v.items[i].str);
  }
  return out;
}

/** Serialises a parsed value back to JSON text (object keys in their original order). */
export function stringifyJson(v: JsonValue): string {
  if (v.kind == JsonKind.Null) return "null";
  if (v.kind == JsonKind.Bool) return v.bool ? "true" : "false";
  if (v.kind == JsonKind.Number) return formatNumber(v.num);
  if (v.kind == JsonKind.String) return '"' + jsonEscape(v.str) + '"';
  let out = v.kind == JsonKind.Array ? "[" : "{";
  const n = v.kind == JsonKind.Array ? v.items.length : v.keys.length;
  for (let i = 0; i < n; i++) {
    if (i > 0) out += ",";
    if (v.kind == JsonKind.Array) {
      out += stringifyJson(v.items[i]);
    } else {
      out += '"' + jsonEscape(v.keys[i]) + '":' + stringifyJson(v.fields.get(v.keys[i]));
    }
  }
  return out + (v.kind == JsonKind.Array ? "]" : "}");
}

/** Whole numbers without AssemblyScript's trailing ".0" (a claim `"exp": 1700000000` stays as written). */
export function formatNumber(n: f64): string {
  if (isFinite(n) && Math.floor(n) == n && Math.abs(n) < 9007199254740992) return (<i64>n).toString();
  return n.toString();
}
