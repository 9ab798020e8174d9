//! Keys: where the master key comes from ([`MasterKeySource`]: the environment, else a
//! file named by the environment, else a file in the data directory) and the `[keys]`
//! table (signing key rotation).

use super::file::FileKeys;
use super::tokens::MAX_ACCESS_TOKEN_TTL;
use crate::app::keys::timing::{DEFAULT_PUBLICATION_LEAD, MIN_PUBLICATION_LEAD};
use secrecy::SecretString;
use std::path::{Path, PathBuf};

/// Where the master key comes from.
#[derive(Debug, Clone)]
pub enum MasterKeySource {
    /// `PORTCULLIS_MASTER_KEY`: base64 of 32 bytes.
    Env(SecretString),
    /// A file with mode 0600, created if missing: [`ENV_MASTER_KEY_FILE`] (a secret
    /// mount, say), else [`MASTER_KEY_FILE`] in the data directory.
    File(PathBuf),
}

/// The resolved `[keys]` table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySettings {
    /// Seconds a rotated-in key is published before it signs.
    pub publication_lead: i64,
}

impl Default for KeySettings {
    fn default() -> Self {
        Self {
            publication_lead: DEFAULT_PUBLICATION_LEAD,
        }
    }
}

/// The master key source: [`ENV_MASTER_KEY`] if set, else the file
/// [`ENV_MASTER_KEY_FILE`] names, else [`MASTER_KEY_FILE`] in `data_dir` (the default,
/// which start-up warns about outside `--dev`: a copy of the data directory would
/// carry the key, `docs/operations.md` "Where the master key lives").
pub(super) fn resolve_master_key(
    env: &dyn Fn(&str) -> Option<String>,
    data_dir: &Path,
) -> MasterKeySource {
    match (env(ENV_MASTER_KEY), env(ENV_MASTER_KEY_FILE)) {
        (Some(v), _) => MasterKeySource::Env(SecretString::from(v)),
        (None, Some(path)) => MasterKeySource::File(PathBuf::from(path)),
        (None, None) => MasterKeySource::File(data_dir.join(MASTER_KEY_FILE)),
    }
}

/// Resolves `[keys]`: the publication lead between [`MIN_PUBLICATION_LEAD`] and
/// [`MAX_ACCESS_TOKEN_TTL`] seconds.
///
/// # Errors
/// A lead out of bounds, naming `keys.publication_lead` and why it has a minimum.
pub(super) fn resolve_keys(file: &FileKeys) -> Result<KeySettings, String> {
    let min = MIN_PUBLICATION_LEAD;
    match file.publication_lead {
        None => Ok(KeySettings::default()),
        Some(v) if (min..=MAX_ACCESS_TOKEN_TTL).contains(&v) => Ok(KeySettings {
            publication_lead: v,
        }),
        Some(v) => Err(format!(
            "`keys.publication_lead` = {v} must be between {min} and {MAX_ACCESS_TOKEN_TTL} seconds (a shorter lead lets a node sign with a key that other nodes or cached JWK Sets do not publish yet; for an emergency use `portcullis keys rotate --immediately`)"
        )),
    }
}

/// Environment variable holding the master key: base64 of 32 bytes.
pub const ENV_MASTER_KEY: &str = "PORTCULLIS_MASTER_KEY";
/// Environment variable naming the master key file (outside the data directory, e.g.
/// a secret mount such as `/run/secrets/portcullis-master-key`).
pub const ENV_MASTER_KEY_FILE: &str = "PORTCULLIS_MASTER_KEY_FILE";
/// Name of the master key file inside the data directory.
pub const MASTER_KEY_FILE: &str = "master.key";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::tests::resolve;

    #[test]
    fn the_master_key_comes_from_the_variable_then_the_named_file_then_the_data_dir() {
        let path = |c: &crate::app::config::Config| match &c.master_key {
            MasterKeySource::File(p) => Some(p.clone()),
            MasterKeySource::Env(_) => None,
        };
        let c = resolve("", &[]).unwrap();
        assert_eq!(path(&c), Some(c.data_dir.join(MASTER_KEY_FILE)));
        let c = resolve("", &[(ENV_MASTER_KEY_FILE, "/run/secrets/mk")]).unwrap();
        assert_eq!(path(&c), Some(PathBuf::from("/run/secrets/mk")));
        let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let both = [
            (ENV_MASTER_KEY, key),
            (ENV_MASTER_KEY_FILE, "/run/secrets/mk"),
        ];
        assert_eq!(path(&resolve("", &both).unwrap()), None);
    }

    #[test]
    fn keys_publication_lead_defaults_and_bounds() {
        let c = resolve("", &[]).unwrap();
        assert_eq!(c.keys.publication_lead, 120);
        let c = resolve("[keys]\npublication_lead = 100", &[]).unwrap();
        assert_eq!(c.keys.publication_lead, 100);
        let e = resolve("[keys]\npublication_lead = 99", &[]).unwrap_err();
        assert!(
            e.message
                .contains("`keys.publication_lead` = 99 must be between 100"),
            "{e}"
        );
        let e = resolve("[keys]\nlead = 100", &[]).unwrap_err();
        assert!(e.message.contains("lead"), "{e}");
    }
}
