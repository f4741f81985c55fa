// The header fields of a request the proxy forwards: what Fetch's `Headers` gives the core (get, set, append,
// delete, has, iteration sorted and combined) over two plain arrays of lower-case names and values kept in the
// order they came, each repeated field its own line.
//
// Why not a Fetch `Headers`: the core makes one per hop for the request it forwards (forwarded-headers.ts), and
// Node's (undici's) checks every name and value character by character in JavaScript on each append and set,
// and sorts its list on each iteration; about 5 µs of a hop's ≈ 100 µs of CPU on the bench mesh, most of it on
// lines llhttp has already checked and on the ≈ 800-byte identity token. Here a line from the listener's parser
// is taken as it is, a name or value from anywhere else is checked as Fetch would check it (one regular
// expression each), and the transport writes the lines in order without sorting them.
//
// Where a real Headers is needed (a Fetch `Request` on the Worker's path), `toHeaders()` makes one; Fetch's
// constructors also take this object as a sequence of pairs, since it iterates as a Headers does.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// What Fetch refuses in a value once it is trimmed: NUL, CR, LF, and anything that is not a byte (ByteString).
const BAD_VALUE = /[\0\r\n]|[^\0-\xff]/
const HTTP_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g

// Names the core uses are a handful of constants: each checked and lower-cased once (bounded, so names from
// requests cannot grow it without end).
const NAMES = new Map<string, string>()

function fieldName(name: string): string {
  const known = NAMES.get(name)
  if (known !== undefined) return known
  const s = String(name)
  if (!TOKEN.test(s)) throw new TypeError(`Headers: invalid header name ${JSON.stringify(s)}`)
  const lower = s.toLowerCase()
  if (NAMES.size < 256 && typeof name === 'string') NAMES.set(name, lower)
  return lower
}

// The last value found valid: the identity token set on request after request is the same string, ≈ 800
// characters that need checking only once.
let lastValid = ''

function fieldValue(value: string): string {
  if (value === lastValid) return value
  let s = String(value)
  const first = s.charCodeAt(0)
  const last = s.charCodeAt(s.length - 1)
  if (first === 0x20 || first === 0x09 || first === 0x0a || first === 0x0d || last === 0x20 || last === 0x09 || last === 0x0a || last === 0x0d) {
    s = s.replace(HTTP_WHITESPACE, '')
  }
  if (BAD_VALUE.test(s)) throw new TypeError(`Headers: invalid value for a header: ${JSON.stringify(s.slice(0, 100))}`)
  if (s.length > 64) lastValid = s
  return s
}

export class HeaderFields implements Headers {
  readonly #names: string[]
  readonly #values: string[]

  private constructor(names: string[], values: string[]) {
    this.#names = names
    this.#values = values
  }

  /** Empty, or a copy of `init` (pairs, a record, a Headers or HeaderFields), each name and value checked. */
  static of(init?: HeadersInit | HeaderFields): HeaderFields {
    const fields = new HeaderFields([], [])
    if (init instanceof HeaderFields) {
      fields.#names.push(...init.#names)
      fields.#values.push(...init.#values)
    } else if (init !== undefined) {
      // A Headers has checked its own; pairs and records are checked by making one.
      const headers = init instanceof Headers ? init : new Headers(init)
      headers.forEach((value, name) => fields.#push(name, value))
    }
    return fields
  }

  /**
   * Header lines as an HTTP/1 parser read them (names and values alternating, names in any case): taken without
   * checking again, as llhttp has (a token for a name, no CR, LF or NUL in a value, surrounding whitespace trimmed).
   */
  static fromParsedLines(raw: readonly string[]): HeaderFields {
    const names: string[] = []
    const values: string[] = []
    for (let i = 0; i < raw.length; i += 2) {
      names.push(raw[i]!.toLowerCase())
      values.push(raw[i + 1]!)
    }
    return new HeaderFields(names, values)
  }

  /** A copy of the lines whose (lower-case) name `keep` accepts, in order. */
  filtered(keep: (name: string) => boolean): HeaderFields {
    const names: string[] = []
    const values: string[] = []
    for (let i = 0; i < this.#names.length; i++) {
      const name = this.#names[i]!
      if (keep(name)) {
        names.push(name)
        values.push(this.#values[i]!)
      }
    }
    return new HeaderFields(names, values)
  }

  /** Each line in the order it came or was added, repeats apart: what goes on the wire. */
  forEachLine(callback: (name: string, value: string) => void): void {
    for (let i = 0; i < this.#names.length; i++) callback(this.#names[i]!, this.#values[i]!)
  }

  /** Name → value, repeats joined with ", " (as `get` gives them), in no particular order. */
  combinedInto(record: Record<string, string>): void {
    for (let i = 0; i < this.#names.length; i++) {
      const name = this.#names[i]!
      const value = this.#values[i]!
      record[name] = Object.hasOwn(record, name) ? `${record[name]}, ${value}` : value
    }
  }

  /** A Fetch Headers with the same fields, for APIs that take nothing else. */
  toHeaders(): Headers {
    const headers = new Headers()
    for (let i = 0; i < this.#names.length; i++) headers.append(this.#names[i]!, this.#values[i]!)
    return headers
  }

  append(name: string, value: string): void {
    this.#push(fieldName(name), fieldValue(value))
  }

  set(name: string, value: string): void {
    const n = fieldName(name)
    const v = fieldValue(value)
    const names = this.#names
    const at = names.indexOf(n)
    if (at < 0) return this.#push(n, v)
    this.#values[at] = v
    this.#remove(n, at + 1)
  }

  delete(name: string): void {
    this.#remove(fieldName(name), 0)
  }

  get(name: string): string | null {
    const n = fieldName(name)
    const names = this.#names
    let value: string | null = null
    for (let i = names.indexOf(n); i >= 0 && i < names.length; i++) {
      if (names[i] === n) value = value === null ? this.#values[i]! : `${value}, ${this.#values[i]!}`
    }
    return value
  }

  getSetCookie(): string[] {
    const out: string[] = []
    for (let i = 0; i < this.#names.length; i++) if (this.#names[i] === 'set-cookie') out.push(this.#values[i]!)
    return out
  }

  has(name: string): boolean {
    return this.#names.includes(fieldName(name))
  }

  /** As Fetch iterates a Headers: names sorted, repeats combined with ", ", each Set-Cookie on its own. */
  forEach(callback: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [name, value] of this.#sortedPairs()) callback.call(thisArg, value, name, this)
  }

  entries(): HeadersIterator<[string, string]> {
    return this.#sortedPairs()[Symbol.iterator]() as HeadersIterator<[string, string]>
  }

  keys(): HeadersIterator<string> {
    return this.#sortedPairs()
      .map((p) => p[0])
      [Symbol.iterator]() as HeadersIterator<string>
  }

  values(): HeadersIterator<string> {
    return this.#sortedPairs()
      .map((p) => p[1])
      [Symbol.iterator]() as HeadersIterator<string>
  }

  [Symbol.iterator](): HeadersIterator<[string, string]> {
    return this.entries()
  }

  #push(name: string, value: string): void {
    this.#names.push(name)
    this.#values.push(value)
  }

  /** Removes every line named `name` from index `from` on. */
  #remove(name: string, from: number): void {
    const names = this.#names
    const values = this.#values
    for (let i = names.indexOf(name, from); i >= 0; i = names.indexOf(name, i)) {
      names.splice(i, 1)
      values.splice(i, 1)
    }
  }

  #sortedPairs(): [string, string][] {
    const names = [...new Set(this.#names)].sort()
    const pairs: [string, string][] = []
    for (const name of names) {
      if (name === 'set-cookie') for (const v of this.getSetCookie()) pairs.push([name, v])
      else pairs.push([name, this.get(name)!])
    }
    return pairs
  }
}
