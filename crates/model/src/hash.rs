//! Keyed hashes of values that may be secret (Lambda environment values, values baked into templates).
//!
//! The values are compared in memory and never stored; what is stored is a keyed SHA-256, so two
//! snapshots (and a parameter against the value a function was deployed with) can be compared
//! without a low-entropy secret being recoverable by hashing guesses offline: the key lives in the
//! user's data directory, not in the snapshot.

use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct ValueHasher {
    key: [u8; 32],
}

impl std::fmt::Debug for ValueHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ValueHasher { key: <hidden> }")
    }
}

impl ValueHasher {
    pub fn new(key: [u8; 32]) -> Self {
        ValueHasher { key }
    }

    /// A fresh random key: hashes are comparable within one scan only.
    pub fn ephemeral() -> Self {
        ValueHasher { key: random_key() }
    }

    /// `sha256:` and 32 hex digits of SHA-256(key ‖ 0 ‖ value).
    pub fn hash(&self, value: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update([0u8]);
        h.update(value.as_bytes());
        let digest = h.finalize();
        format!("sha256:{}", hex::encode(&digest[..16]))
    }
}

/// A key written as 64 hex digits (how a team shares one: a CI secret, `STAGECRAFT_HASH_KEY`).
pub fn parse_key(hex_digits: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(hex_digits.trim()).ok()?;
    bytes.try_into().ok()
}

/// `key` as 64 hex digits.
pub fn key_hex(key: &[u8; 32]) -> String {
    hex::encode(key)
}

impl ValueHasher {
    /// Names the key without revealing it: 16 hex digits of SHA-256 of a fixed label and the key.
    /// Two snapshots' hashes compare only when their fingerprints are equal.
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"stagecraft value-hash key fingerprint\0");
        h.update(self.key);
        hex::encode(&h.finalize()[..8])
    }
}

/// 32 bytes from the operating system's random source.
pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    if getrandom::fill(&mut key).is_err() {
        // No OS randomness (never seen on a desktop): fall back to time and pid, still unpredictable
        // enough that a hash is not a lookup table.
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        key.copy_from_slice(&Sha256::digest(seed.as_bytes()));
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_hash_equal_and_the_value_does_not_appear() {
        let h = ValueHasher::new([7; 32]);
        assert_eq!(h.hash("hunter2"), h.hash("hunter2"));
        assert_ne!(h.hash("hunter2"), h.hash("hunter3"));
        assert!(!h.hash("hunter2").contains("hunter2"));
        assert_ne!(ValueHasher::new([8; 32]).hash("x"), h.hash("x"));
        assert_eq!(h.fingerprint(), ValueHasher::new([7; 32]).fingerprint());
        assert_ne!(h.fingerprint(), ValueHasher::new([8; 32]).fingerprint());
        assert!(!h.hash("x").contains(&h.fingerprint()));
        assert_eq!(parse_key(&key_hex(&[7; 32])), Some([7; 32]));
        assert_eq!(parse_key("abc"), None);
    }
}
