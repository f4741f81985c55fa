// jwt-auth: end-user JWT authentication, like Istio's RequestAuthentication. Config:
//   {"issuers": [{"issuer": "https://auth.example.com", "audiences": ["orders"], "jwks": {"keys": [...]}}],
//    "from": {"header": "authorization"}, "forwardClaims": ["sub", "plan"], "required": false,
//    "forwardToken": false}
// The token comes from `from` (default: Authorization: Bearer …; any other header carries the bare token; or
// {"cookie": name}). Its unverified `iss` only picks the issuer entry; the signature, iss, aud, exp and nbf are
// checked by the host's `weft.verify_jwt` (WebCrypto via jose), which answers at once from its cache or later
// through proxy_on_foreign_function while this filter pauses. Verified claims go upstream as x-jwt-claim-<name>;
// such headers from the client are always removed. No token: the request passes unless `required`; a bad token
// → 401 problem+json.
import {
  Action,
  CLAIM_HEADER_PREFIX,
  FNV_OFFSET_BASIS,
  HeaderPair,
  HttpContext,
  JsonKind,
  JsonValue,
  MapType,
  RootContext,
  ValueSource,
  callForeignFunction,
  callForeignFunctionWith,
  claimHeader,
  decodeBase64Url,
  formatNumber,
  getForeignFunctionData,
  getRequestHeaderBytes,
  jsonEscape,
  logError,
  parseJson,
  readHeaderInto,
  registerRootContext,
  removeHeadersWithPrefix,
  removeRequestHeader,
  replaceRequestHeader,
  sendLocalResponse,
  continueRequest,
  stringArrayField,
  stringifyJson,
} from "../sdk";

export * from "../sdk/exports";

const VERIFY_JWT = "weft.verify_jwt";
// Registers an issuer once (onConfigure) and answers a handle: requests then send `<handle>:<token>` only.
const JWT_CONFIG = "weft.jwt_config";
// Distinct verifier answers whose claim headers are remembered (one per live token); cleared when full.
const MAX_REMEMBERED_ANSWERS = 1024;
// Real tokens are well under this; a bigger one is refused before any decoding.
const MAX_TOKEN_LENGTH = 8192;

class KnownAnswer {
  constructor(public bytes: ArrayBuffer, public headers: Array<HeaderPair>) {}
}

function sameBytes(a: ArrayBuffer, b: ArrayBuffer): bool {
  return a.byteLength == b.byteLength && memory.compare(changetype<usize>(a), changetype<usize>(b), a.byteLength) == 0;
}

// A request's Authorization value is copied here, and the verify_jwt arguments are built around the token where
// it lies (the prefix written just before it, the suffix just after): no allocation, no second copy of the token.
const ARGS_SIZE: i32 = 16384;
const PREFIX_ROOM: i32 = 1024;
const SUFFIX_ROOM: i32 = 64;
const ARGS: usize = memory.data(16384, 16);

/** A token's `length` bytes at `ptr`: in ARGS (`inPlace`), or in `owner`. */
class TokenBytes {
  constructor(public owner: ArrayBuffer | null, public ptr: usize, public length: i32, public inPlace: bool) {}

  static of(bytes: ArrayBuffer): TokenBytes {
    return new TokenBytes(bytes, changetype<usize>(bytes), bytes.byteLength, false);
  }
}

class JwtAuthRoot extends RootContext {
  /**
   * Per issuer, the verify_jwt arguments before the token (UTF-8): `<handle>:` when the host registered the
   * issuer (weft.jwt_config), else the whole JSON up to the token, `{"issuer":…,"audiences":…,"jwks":…,"token":"`.
   */
  argsPrefix: Map<string, ArrayBuffer> = new Map<string, ArrayBuffer>();
  /** What follows the token: nothing for a handle, `"}` for the JSON form. */
  argsSuffix: Map<string, ArrayBuffer> = new Map<string, ArrayBuffer>();
  /** The only issuer's prefix and suffix when there is one issuer. */
  onlyPrefix: ArrayBuffer | null = null;
  onlySuffix: ArrayBuffer = new ArrayBuffer(0);
  /**
   * Claim headers by verifier answer: a valid answer's bytes fully determine the headers it forwards. Keyed by
   * the answer's hash, and the bytes compared, so a cached request neither decodes nor hashes it as a string.
   */
  claimHeaders: Map<u64, KnownAnswer> = new Map<u64, KnownAnswer>();
  from: ValueSource = new ValueSource("header", "authorization");
  forwardClaims: Array<string> = [];
  required: bool = false;
  forwardToken: bool = false;

  onConfigure(configuration: string): bool {
    const config = parseJson(configuration);
    if (config == null || !config.isObject()) return fail("configuration must be a JSON object");
    const issuers = config.get("issuers");
    if (issuers == null || !issuers.isArray() || issuers.items.length == 0) return fail('"issuers" must be a non-empty array');
    for (let i = 0; i < issuers.items.length; i++) {
      const entry = issuers.items[i];
      const issuer: string | null = entry.isObject() ? entry.getString("issuer") : null;
      const audiences: Array<string> | null = !entry.isObject() ? null
        : entry.get("audiences") == null ? new Array<string>() : stringArrayField(entry, "audiences");
      const jwks: JsonValue | null = entry.isObject() ? entry.get("jwks") : null;
      const keys: JsonValue | null = jwks == null ? null : jwks.get("keys");
      if (issuer == null || issuer.length == 0 || audiences == null || keys == null || !keys.isArray() || keys.items.length == 0) {
        return fail("issuers[" + i.toString() + '] needs "issuer", "jwks": {"keys": [...]} and optional "audiences" strings');
      }
      let audienceList = "";
      for (let a = 0; a < audiences.length; a++) audienceList += (a > 0 ? "," : "") + '"' + jsonEscape(audiences[a]) + '"';
      const issuerArgs = '{"issuer":"' + jsonEscape(issuer) + '","audiences":[' + audienceList + '],"jwks":' + stringifyJson(jwks!);
      const handle = callForeignFunction(JWT_CONFIG, String.UTF8.encode(issuerArgs + "}"));
      if (handle != null && handle.byteLength == 4) {
        this.argsPrefix.set(issuer, String.UTF8.encode(load<u32>(changetype<usize>(handle)).toString() + ":"));
        this.argsSuffix.set(issuer, new ArrayBuffer(0));
      } else {
        // A host without weft.jwt_config: every request carries the issuer's whole arguments.
        this.argsPrefix.set(issuer, String.UTF8.encode(issuerArgs + ',"token":"'));
        this.argsSuffix.set(issuer, String.UTF8.encode('"}'));
      }
    }
    if (this.argsPrefix.size == 1) {
      this.onlyPrefix = this.argsPrefix.values()[0];
      this.onlySuffix = this.argsSuffix.values()[0];
    }
    const from = config.get("from");
    if (from != null) {
      const source = ValueSource.parse(from);
      if (source == null || source.kind == "claim") return fail('"from" must be {"header": name} or {"cookie": name}');
      this.from = source;
    }
    if (config.get("forwardClaims") != null) {
      const claims = stringArrayField(config, "forwardClaims");
      if (claims == null) return fail('"forwardClaims" must be an array of claim names');
      this.forwardClaims = claims;
    }
    this.required = flag(config, "required");
    this.forwardToken = flag(config, "forwardToken");
    return true;
  }

  createHttpContext(id: u32): HttpContext {
    return new JwtAuth(id, this);
  }
}

function flag(config: JsonValue, key: string): bool {
  const v = config.get(key);
  return v != null && v.bool;
}

function fail(message: string): bool {
  logError("jwt-auth: " + message);
  return false;
}

// Per byte: 1 for a base64url character, 2 for ".", 0 otherwise (filled once below): wellFormed then costs a load
// and a test per byte of a ~1 KB token instead of five range comparisons.
const TOKEN_CHARS: usize = memory.data(256);
for (let c = 0x41; c <= 0x5a; c++) store<u8>(TOKEN_CHARS + <usize>c, 1);
for (let c = 0x61; c <= 0x7a; c++) store<u8>(TOKEN_CHARS + <usize>c, 1);
for (let c = 0x30; c <= 0x39; c++) store<u8>(TOKEN_CHARS + <usize>c, 1);
store<u8>(TOKEN_CHARS + 0x2d, 1);
store<u8>(TOKEN_CHARS + 0x5f, 1);
store<u8>(TOKEN_CHARS + 0x2e, 2);

/**
 * A hash of a verifier answer, eight bytes per step: it only keys claimHeaders, whose entries are then compared
 * byte for byte, so a collision costs a miss, never a wrong answer.
 */
function answerHash(ptr: usize, length: i32): u64 {
  let h: u64 = FNV_OFFSET_BASIS ^ <u64>length;
  let i = 0;
  for (; i + 8 <= length; i += 8) {
    h = (h ^ load<u64>(ptr + <usize>i)) * 0x100000001b3;
    h ^= h >> 29;
  }
  for (; i < length; i++) h = (h ^ <u64>load<u8>(ptr + <usize>i)) * 0x100000001b3;
  return h;
}

/** Base64url segments separated by exactly two dots: also what keeps the token safe to splice into JSON. */
function wellFormed(token: TokenBytes): bool {
  const length = token.length;
  if (length == 0 || length > MAX_TOKEN_LENGTH) return false;
  const base = token.ptr;
  let dots: u32 = 0;
  for (let i = 0; i < length; i++) {
    const kind = <u32>load<u8>(TOKEN_CHARS + <usize>load<u8>(base + <usize>i));
    if (kind == 0) return false;
    dots += kind >> 1;
  }
  return dots == 2;
}

/** Whether any of `length` bytes at `base` is past ASCII: eight bytes per step (unaligned loads are fine in wasm). */
function hasNonAscii(base: usize, length: i32): bool {
  let i = 0;
  for (; i + 8 <= length; i += 8) {
    if ((load<u64>(base + <usize>i) & 0x8080808080808080) != 0) return true;
  }
  for (; i < length; i++) {
    if (load<u8>(base + <usize>i) >= 0x80) return true;
  }
  return false;
}

/** The `iss` of the token's payload, unverified: it only chooses which issuer's keys verify it. */
function unverifiedIssuer(token: string): string | null {
  const start = token.indexOf(".") + 1;
  const payload = decodeBase64Url(token.substring(start, token.indexOf(".", start)));
  if (payload == null) return null;
  const claims = parseJson(String.UTF8.decode(payload));
  return claims == null ? null : claims.getString("iss");
}

/** `Bearer <token>` as the SDK's strings see it: the trimmed rest after a case-insensitive "bearer ", else "". */
function bearerText(value: string): string {
  return value.length > 7 && value.substring(0, 7).toLowerCase() == "bearer " ? value.substring(7).trim() : "";
}

// Whitespace String#trim removes that is ASCII: space, tab, LF, VT, FF, CR.
function asciiSpace(c: u32): bool {
  return c == 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * The token of an Authorization value, as UTF-8 bytes: bearerText without decoding it to a string when the value
 * is ASCII (decoding is then the identity, and only ASCII whitespace can be trimmed), through bearerText
 * otherwise, so both give the same bytes.
 */
function bearerToken(owner: ArrayBuffer | null, base: usize, length: i32, inPlace: bool): TokenBytes {
  if (hasNonAscii(base, length)) {
    return TokenBytes.of(String.UTF8.encode(bearerText(String.UTF8.decodeUnsafe(base, <usize>length))));
  }
  if (length <= 7) return new TokenBytes(owner, base, 0, inPlace);
  const scheme = "bearer ";
  for (let i = 0; i < 7; i++) {
    let c = <u32>load<u8>(base + <usize>i);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c != <u32>scheme.charCodeAt(i)) return new TokenBytes(owner, base, 0, inPlace);
  }
  let start = 7;
  let end = length;
  while (end > start && asciiSpace(load<u8>(base + <usize>end - 1))) end--;
  while (start < end && asciiSpace(load<u8>(base + <usize>start))) start++;
  return new TokenBytes(owner, base + <usize>start, end - start, inPlace);
}

/** The token this filter is configured to read, as UTF-8 bytes; null when its header or cookie is absent. */
function readToken(from: ValueSource): TokenBytes | null {
  if (from.kind == "header" && from.name == "authorization") {
    const at = ARGS + <usize>PREFIX_ROOM;
    const length = readHeaderInto(MapType.RequestHeaders, from.name, at, ARGS_SIZE - PREFIX_ROOM - SUFFIX_ROOM);
    if (length == -1) return null;
    if (length >= 0) return bearerToken(null, at, length, true);
    // Longer than ARGS holds (and so than any token this filter accepts): read the usual way.
    const value = getRequestHeaderBytes(from.name);
    return value == null ? null : bearerToken(value, changetype<usize>(value), value.byteLength, false);
  }
  const text = from.read();
  return text == null ? null : TokenBytes.of(String.UTF8.encode(text));
}

/** Calls verify_jwt with `prefix`, `token`, `suffix`: built around the token in ARGS when it lies there. */
function verify(prefix: ArrayBuffer, token: TokenBytes, suffix: ArrayBuffer): ArrayBuffer | null {
  if (!token.inPlace || prefix.byteLength > PREFIX_ROOM || suffix.byteLength > SUFFIX_ROOM) {
    return callForeignFunction(VERIFY_JWT, joinArgs(prefix, token, suffix));
  }
  // The token starts at least 7 bytes ("Bearer ") into the value copied at ARGS + PREFIX_ROOM, and the value ends
  // SUFFIX_ROOM before the end of ARGS: both fit.
  const start = token.ptr - <usize>prefix.byteLength;
  memory.copy(start, changetype<usize>(prefix), prefix.byteLength);
  memory.copy(token.ptr + <usize>token.length, changetype<usize>(suffix), suffix.byteLength);
  return callForeignFunctionWith(VERIFY_JWT, start, <usize>(prefix.byteLength + token.length + suffix.byteLength));
}

/** `prefix`, `token`, `suffix` in one buffer: the verify_jwt arguments. */
function joinArgs(prefix: ArrayBuffer, token: TokenBytes, suffix: ArrayBuffer): ArrayBuffer {
  const length = token.length;
  const out = new ArrayBuffer(prefix.byteLength + length + suffix.byteLength);
  const base = changetype<usize>(out);
  memory.copy(base, changetype<usize>(prefix), prefix.byteLength);
  memory.copy(base + <usize>prefix.byteLength, token.ptr, length);
  memory.copy(base + <usize>prefix.byteLength + <usize>length, changetype<usize>(suffix), suffix.byteLength);
  return out;
}

/** A claim as a header value: strings as is, numbers and booleans as JSON, string arrays comma-joined. */
function claimValue(v: JsonValue): string {
  let text: string;
  if (v.kind == JsonKind.String) text = v.str;
  else if (v.kind == JsonKind.Number) text = formatNumber(v.num);
  else if (v.kind == JsonKind.Array) {
    text = "";
    for (let i = 0; i < v.items.length; i++) {
      text += (i > 0 ? "," : "") + (v.items[i].kind == JsonKind.String ? v.items[i].str : stringifyJson(v.items[i]));
    }
  } else text = stringifyJson(v);
  // A header value cannot hold control characters (a claim can): they become spaces.
  let out = "";
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x20 && text.charCodeAt(i) != 0x7f) continue;
    out += text.substring(start, i) + " ";
    start = i + 1;
  }
  return out + text.substring(start);
}

class JwtAuth extends HttpContext {
  pendingId: u32 = 0;

  onRequestHeaders(numHeaders: u32, endOfStream: bool): Action {
    const root = changetype<JwtAuthRoot>(this.root);
    // As bytes: the token only passes through (checked, then sent to the host), never needs to be a string.
    const token = readToken(root.from);
    // The credential never goes upstream unless forwardToken; removing it now (a refused request is not forwarded
    // at all) also keeps the ~1 KB token out of the header-map copy below.
    if (token != null && !root.forwardToken && root.from.kind == "header") removeRequestHeader(root.from.name);
    // Claims reach the upstream (and later filters: claim-route, ratelimit) only from this filter.
    removeHeadersWithPrefix(MapType.RequestHeaders, CLAIM_HEADER_PREFIX);
    if (token == null || token.length == 0) {
      if (!root.required) return Action.Continue;
      return this.reject("missing token", 'Bearer realm="weft"');
    }
    if (!wellFormed(token)) return this.reject("malformed token", 'Bearer error="invalid_token"');
    // With one issuer there is nothing to choose: the host checks `iss` anyway, so skip decoding the payload here.
    let prefix = root.onlyPrefix;
    let suffix = root.onlySuffix;
    if (prefix == null) {
      // A well-formed token is ASCII: its bytes decode to the same text.
      const issuer = unverifiedIssuer(String.UTF8.decodeUnsafe(token.ptr, token.length));
      if (issuer == null || !root.argsPrefix.has(issuer)) return this.reject("unknown issuer", 'Bearer error="invalid_token"');
      prefix = root.argsPrefix.get(issuer);
      suffix = root.argsSuffix.get(issuer);
    }
    const answer = verify(prefix!, token, suffix);
    if (answer == null) {
      logError("jwt-auth: the host offers no " + VERIFY_JWT + "; refusing the request");
      sendLocalResponse(503, "jwt_verifier_unavailable",
        '{"type":"https://weft.dev/problems/filters/jwt-auth","title":"JWT verification unavailable","status":503}',
        [new HeaderPair("content-type", "application/problem+json")]);
      return Action.Pause;
    }
    return this.apply(answer, false);
  }

  onForeignFunction(functionId: u32, dataSize: u32): void {
    if (functionId != this.pendingId) return;
    this.pendingId = 0;
    if (this.apply(getForeignFunctionData(dataSize), true) == Action.Continue) continueRequest();
  }

  /** Acts on a verify_jwt answer: forward claims, wait for a pending one, or refuse. */
  apply(bytes: ArrayBuffer, resumed: bool): Action {
    const root = changetype<JwtAuthRoot>(this.root);
    // A cached verification answers the same bytes for every request with that token: its headers are known.
    const hash = answerHash(changetype<usize>(bytes), bytes.byteLength);
    if (root.claimHeaders.has(hash)) {
      const known = root.claimHeaders.get(hash);
      if (sameBytes(known.bytes, bytes)) {
        for (let i = 0; i < known.headers.length; i++) replaceRequestHeader(known.headers[i].key, known.headers[i].value);
        return Action.Continue;
      }
    }
    const text = String.UTF8.decode(bytes);
    const answer = parseJson(text);
    if (answer == null) return this.reject("verifier answered nonsense", 'Bearer error="invalid_token"');
    const pending = answer.get("pending");
    if (pending != null && !resumed) {
      this.pendingId = <u32>pending.num;
      return Action.Pause;
    }
    const valid = answer.get("valid");
    const claims = answer.get("claims");
    if (valid == null || !valid.bool || claims == null) {
      const error = answer.getString("error");
      return this.reject(error == null ? "invalid token" : error, 'Bearer error="invalid_token"');
    }
    const headers = new Array<HeaderPair>();
    for (let i = 0; i < root.forwardClaims.length; i++) {
      const claim = claims.get(root.forwardClaims[i]);
      if (claim != null && claim.kind != JsonKind.Null) headers.push(new HeaderPair(claimHeader(root.forwardClaims[i]), claimValue(claim)));
    }
    for (let i = 0; i < headers.length; i++) replaceRequestHeader(headers[i].key, headers[i].value);
    if (root.claimHeaders.size >= MAX_REMEMBERED_ANSWERS) root.claimHeaders.clear();
    root.claimHeaders.set(hash, new KnownAnswer(bytes, headers));
    return Action.Continue;
  }

  reject(detail: string, challenge: string): Action {
    sendLocalResponse(
      401,
      "jwt_rejected",
      '{"type":"https://weft.dev/problems/filters/jwt-auth","title":"Unauthorized","status":401,"detail":"' +
        jsonEscape(detail) + '"}',
      [new HeaderPair("content-type", "application/problem+json"), new HeaderPair("www-authenticate", challenge)],
    );
    return Action.Pause;
  }
}

registerRootContext((id: u32): RootContext => new JwtAuthRoot(id));
