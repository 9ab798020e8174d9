//! The timing of key rotation across nodes (see the parent module's doc): how often a
//! node re-reads keys, how long the JWK Set may be cached, the clock skew allowed, and
//! the publication lead they add up to. A leaf module: `[keys]` in the configuration
//! reads the leads from here without importing the key machinery.

use std::time::Duration;

/// How often each node re-reads the signing keys: a `next` key is published here
/// within this interval of its insertion; a key retired elsewhere stops signing here
/// within it ([`portcullis_core::keys::RETIRED_KEY_GRACE`] covers that).
pub const KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(10);

/// Seconds clients may cache the JWK Set (`Cache-Control: max-age` at `jwks_uri`).
pub const JWKS_MAX_AGE: i64 = 60;

/// The clock skew the publication lead allows for, in seconds, between the host that
/// runs `keys rotate` (whose clock sets `activate_at`) and each node (which signs from
/// `activate_at` by its own clock): a node whose clock runs this much ahead signs this
/// much earlier. Assumes every node and the admin host run NTP (skew far below this).
pub const MAX_CLOCK_SKEW: i64 = 30;

/// The shortest publication lead `[keys] publication_lead` accepts: one node refresh
/// plus one JWKS cache lifetime plus [`MAX_CLOCK_SKEW`] (why: a shorter lead lets a
/// node sign with a key that a resource server's cached JWK Set, or another node's,
/// does not have yet).
pub const MIN_PUBLICATION_LEAD: i64 = 100;

/// Default `[keys] publication_lead`: [`MIN_PUBLICATION_LEAD`] plus 20 s for a slow
/// refresh.
pub const DEFAULT_PUBLICATION_LEAD: i64 = 120;
const _: () = assert!(DEFAULT_PUBLICATION_LEAD >= MIN_PUBLICATION_LEAD);
