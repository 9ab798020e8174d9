//! RFC 9449 §8 / §9 server-provided nonces, stateless: a nonce is the number of a
//! time window and a MAC over it, so any process holding the key accepts another's
//! nonces without shared storage.

use aws_lc_rs::hmac;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::time::Duration;

/// Stateless DPoP nonces (RFC 9449 §8, §9): `base64url(window ‖ HMAC-SHA-256(key,
/// "dpop-nonce" ‖ window)[..16])`, where `window = now / window_seconds`. A nonce is
/// accepted during its own window and the next one, so it lives between one and two
/// windows. Processes built with the same key accept each other's nonces.
///
/// The MAC is aws-lc-rs HMAC-SHA-256 and its check is constant-time.
pub struct StatelessNonces {
    key: hmac::Key,
    window: u64,
}

impl std::fmt::Debug for StatelessNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatelessNonces")
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

impl StatelessNonces {
    /// Nonces under `key` (at least 32 bytes of secret, e.g. derived from a master
    /// key) that change every `window` (whole seconds, at least 1).
    pub fn new(key: &[u8], window: Duration) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            window: window.as_secs().max(1),
        }
    }

    /// Nonces under a random key of this process (a single-process resource
    /// server).
    ///
    /// # Errors
    /// When the system random generator fails.
    pub fn random(window: Duration) -> Result<Self, aws_lc_rs::error::Unspecified> {
        let mut key = [0_u8; 32];
        SystemRandom::new().fill(&mut key)?;
        Ok(Self::new(&key, window))
    }

    /// The nonce to hand out at `now` (seconds since the epoch), for the
    /// `DPoP-Nonce` header.
    pub fn current(&self, now: u64) -> String {
        let window = now / self.window;
        let mut bytes = Vec::with_capacity(WINDOW_BYTES + TAG_BYTES);
        bytes.extend_from_slice(&window.to_be_bytes());
        bytes.extend_from_slice(self.tag(window).get(..TAG_BYTES).unwrap_or_default());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` was handed out in the current or the previous window.
    pub fn accepts(&self, nonce: &str, now: u64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let (Some(window), Some(tag)) = (bytes.get(..WINDOW_BYTES), bytes.get(WINDOW_BYTES..))
        else {
            return false;
        };
        let Ok(window) = <[u8; WINDOW_BYTES]>::try_from(window) else {
            return false;
        };
        let window = u64::from_be_bytes(window);
        let current = now / self.window;
        if window != current && window.saturating_add(1) != current {
            return false;
        }
        tag.len() == TAG_BYTES
            && self
                .tag(window)
                .get(..TAG_BYTES)
                .is_some_and(|expected| constant_time_eq(expected, tag))
    }

    fn tag(&self, window: u64) -> Vec<u8> {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(b"dpop-nonce");
        context.update(&window.to_be_bytes());
        context.sign().as_ref().to_vec()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const WINDOW_BYTES: usize = 8;
const TAG_BYTES: usize = 16;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_nonce_lives_its_window_and_the_next() {
        let nonces = StatelessNonces::new(&[1; 32], Duration::from_secs(60));
        let nonce = nonces.current(6_000);
        assert!(nonces.accepts(&nonce, 6_000));
        assert!(nonces.accepts(&nonce, 6_059));
        assert!(nonces.accepts(&nonce, 6_119));
        assert!(!nonces.accepts(&nonce, 6_120));
        assert!(!nonces.accepts(&nonce, 5_999));
    }

    #[test]
    fn another_key_or_garbage_is_refused() {
        let a = StatelessNonces::new(&[1; 32], Duration::from_secs(60));
        let b = StatelessNonces::new(&[2; 32], Duration::from_secs(60));
        let same_as_a = StatelessNonces::new(&[1; 32], Duration::from_secs(60));
        let nonce = a.current(6_000);
        assert!(same_as_a.accepts(&nonce, 6_000));
        assert!(!b.accepts(&nonce, 6_000));
        for bad in ["", "!!", "AAAA", &nonce[..nonce.len() - 2]] {
            assert!(!a.accepts(bad, 6_000), "{bad}");
        }
    }
}
