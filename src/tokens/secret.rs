//! The secret's shape: `ppt_`, 43 random base62 characters (256 bits), and a 6-character
//! base62 CRC-32 of them. The prefix lets secret scanners find a leaked token; the checksum
//! turns a mistyped or truncated token away before any database read.

use sha2::{Digest as _, Sha256};

use crate::secret::Secret;

/// Every portal API token starts with this.
pub const PREFIX: &str = "ppt_";
/// Random characters: 43 × log2(62) ≈ 256.03 bits.
const RANDOM_CHARS: usize = 43;
/// Checksum characters: 62⁶ > 2³².
const CHECK_CHARS: usize = 6;
/// The whole secret's length.
pub const LEN: usize = PREFIX.len() + RANDOM_CHARS + CHECK_CHARS;
/// What the pages show of a token: the prefix and the first eight random characters.
pub const SHOWN: usize = PREFIX.len() + 8;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new secret, from the operating system's CSPRNG.
pub fn generate() -> Secret<String> {
    use rand::Rng as _;
    let mut rng = rand::rng();
    let random: String = (0..RANDOM_CHARS)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    let check = checksum(&random);
    Secret::new(format!("{PREFIX}{random}{check}"))
}

/// Whether `text` has a token's shape and a checksum that matches: no database is read.
pub fn well_formed(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(PREFIX) else {
        return false;
    };
    if rest.len() != RANDOM_CHARS + CHECK_CHARS || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let (random, check) = rest.split_at(RANDOM_CHARS);
    crate::secret::constant_time_eq(&checksum(random), check)
}

/// The stored form: SHA-256, hex.
pub fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the pages show of `text`: `ppt_` and eight characters.
pub fn shown(text: &str) -> String {
    text.chars().take(SHOWN).collect()
}

fn checksum(random: &str) -> String {
    let mut n = u64::from(crc32(random.as_bytes()));
    let mut out = [b'0'; CHECK_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// CRC-32 (IEEE 802.3, reflected), as GitHub's token checksums use.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn a_new_token_is_well_formed_and_a_typo_is_not() {
        for _ in 0..200 {
            let t = generate();
            let t = t.expose();
            assert_eq!(t.len(), LEN);
            assert!(well_formed(t), "{t}");
            // Every single-character change is caught by the checksum.
            let mut bytes = t.clone().into_bytes();
            let i = PREFIX.len() + 5;
            bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
            assert!(!well_formed(&String::from_utf8(bytes).unwrap()));
            assert!(!well_formed(&t[..LEN - 1]));
            assert!(!well_formed(&format!("{t}x")));
            assert!(!well_formed(&t.replacen(PREFIX, "ppx_", 1)));
        }
    }

    #[test]
    fn two_tokens_differ_and_hash_to_hex() {
        let (a, b) = (generate(), generate());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(hash(a.expose()).len(), 64);
        assert_eq!(shown(a.expose()).len(), SHOWN);
    }
}
