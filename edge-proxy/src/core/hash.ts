/**
 * A 32-bit string hash: FNV-1a over UTF-16 code units, then MurmurHash3's finaliser (fmix32) so that nearby
 * inputs ("10.0.0.1:80", "10.0.0.2:80") land far apart, which FNV alone does poorly in the low bits that a
 * modulo keeps. Not cryptographic: an attacker choosing hash keys can pick their endpoint, which they could
 * do anyway by choosing the header. `seed` gives independent hash functions (Maglev needs two).
 */
export function hash32(input: string, seed = 0): number {
  let h = (0x811c9dc5 ^ seed) >>> 0
  for (let i = 0; i < input.length; i++) {
    h ^= input.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}
