// A UTF-8 text built piece by piece in one reused buffer (an access-log line, say): concatenating strings makes a
// new string per piece, and the SDK would then encode the whole once more to hand it to the host.

/** Hex digits for \u00XX escapes, lower case as jsonEscape writes them. */
const HEX = "0123456789abcdef";

export class TextBuilder {
  buffer: ArrayBuffer;
  length: i32 = 0;

  constructor(capacity: i32 = 256) {
    this.buffer = new ArrayBuffer(capacity);
  }

  /** Empties the text (the buffer is kept). */
  reset(): TextBuilder {
    this.length = 0;
    return this;
  }

  get ptr(): usize {
    return changetype<usize>(this.buffer);
  }

  /** Appends `s` as UTF-8 (String.UTF8.encode's bytes). */
  str(s: string): TextBuilder {
    this.reserve(s.length * 3);
    this.length += <i32>String.UTF8.encodeUnsafe(changetype<usize>(s), s.length, this.ptr + <usize>this.length);
    return this;
  }

  /** Appends jsonEscape(s) as UTF-8, without making the escaped string. */
  json(s: string): TextBuilder {
    // Escapes are ASCII and never split a surrogate pair: the runs between them encode as the whole would.
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c != 0x22 && c != 0x5c && c >= 0x20) continue;
      this.run(s, start, i);
      if (c == 0x22) this.ascii2(0x5c, 0x22);
      else if (c == 0x5c) this.ascii2(0x5c, 0x5c);
      else if (c == 0x0a) this.ascii2(0x5c, 0x6e);
      else if (c == 0x0d) this.ascii2(0x5c, 0x72);
      else if (c == 0x09) this.ascii2(0x5c, 0x74);
      else {
        this.ascii2(0x5c, 0x75);
        this.ascii2(0x30, 0x30);
        this.ascii2(HEX.charCodeAt(c >> 4), HEX.charCodeAt(c & 15));
      }
      start = i + 1;
    }
    this.run(s, start, s.length);
    return this;
  }

  /** Appends `n` in decimal (u64.toString()). */
  u64(n: u64): TextBuilder {
    this.reserve(20);
    let digits = 1;
    for (let rest = n / 10; rest > 0; rest /= 10) digits++;
    let at = this.ptr + <usize>this.length + <usize>digits;
    let rest = n;
    do {
      at--;
      store<u8>(at, <u8>(0x30 + rest % 10));
      rest /= 10;
    } while (rest > 0);
    this.length += digits;
    return this;
  }

  /** s[start, end) as UTF-8. */
  private run(s: string, start: i32, end: i32): void {
    if (end <= start) return;
    this.reserve((end - start) * 3);
    this.length += <i32>String.UTF8.encodeUnsafe(changetype<usize>(s) + (<usize>start << 1), end - start, this.ptr + <usize>this.length);
  }

  private ascii2(a: i32, b: i32): void {
    this.reserve(2);
    const at = this.ptr + <usize>this.length;
    store<u8>(at, <u8>a);
    store<u8>(at, <u8>b, 1);
    this.length += 2;
  }

  private reserve(extra: i32): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.byteLength) return;
    let capacity = this.buffer.byteLength * 2;
    if (capacity < needed) capacity = needed;
    const grown = new ArrayBuffer(capacity);
    memory.copy(changetype<usize>(grown), this.ptr, <usize>this.length);
    this.buffer = grown;
  }
}
