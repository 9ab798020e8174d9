//! Start-up checks of where secrets sit on disk (issue 16), each answered with a
//! warning that names the path and the fix (`serve` logs them; nothing is refused,
//! since each may be deliberate):
//!
//! - the master key file inside the data directory (outside `--dev`): any copy of that
//!   directory, a backup or a volume snapshot, then carries both the sealed signing
//!   keys and the key that opens them;
//! - a data directory that other users can enter (mode 0755, say): the files in it are
//!   owner-only, but their names, sizes and times are not. Warned about rather than
//!   changed: the directory is the database file's, which may be a shared one (`.`,
//!   `/tmp`) whose mode is not ours to change;
//! - a configuration file that every user can read while it holds secrets (client
//!   secrets, user passwords, a database password).
//!
//! (A master key file readable by other users is not a warning but a refusal to start,
//! [`crate::app::keys::load_master_key`].)

use crate::app::config::{Config, ENV_MASTER_KEY, ENV_MASTER_KEY_FILE, MasterKeySource};
use crate::app::database::redact_url;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// The warnings for this configuration, read from `config_file` (if any), started with
/// `--dev` or not. Empty when all is well.
pub fn warnings(config: &Config, config_file: Option<&Path>, dev: bool) -> Vec<String> {
    let mut found = Vec::new();
    if !dev
        && let MasterKeySource::File(key_file) = &config.master_key
        && is_inside(key_file, &config.data_dir)
    {
        found.push(format!(
            "the master key file {} is inside the data directory {}: a copy of that directory (a backup, a volume snapshot) carries the key that decrypts the signing keys; keep it apart: set {ENV_MASTER_KEY} from a secret store, or {ENV_MASTER_KEY_FILE} to a file outside the data directory (a secret mount), see docs/operations.md \"Where the master key lives\"",
            key_file.display(),
            config.data_dir.display()
        ));
    }
    if let Some(mode) = mode_of(&config.data_dir).filter(|m| m & 0o077 != 0) {
        let dir = config.data_dir.display();
        found.push(format!(
            "the data directory {dir} is open to other users (mode {:o}); run `chmod 700 {dir}` (the files in it are owner-only, but other users can list them)",
            mode & 0o777
        ));
    }
    if let Some(file) = config_file
        && let Some(mode) = mode_of(file).filter(|m| m & 0o004 != 0)
        && holds_secrets(config)
    {
        let shown = file.display();
        found.push(format!(
            "the configuration file {shown} is readable by every user (mode {:o}) and holds secrets (client secrets, user passwords or a database password); run `chmod 600 {shown}` (or 640 with the server's group)",
            mode & 0o777
        ));
    }
    found
}

/// Whether `file` lies inside `dir`, after resolving symbolic links (a link in the
/// data directory to a secret mount is outside); compared as written when either
/// cannot be resolved.
fn is_inside(file: &Path, dir: &Path) -> bool {
    let file = file.canonicalize().unwrap_or_else(|_| file.to_path_buf());
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    file.starts_with(dir)
}

/// The permission bits of `path`, if it exists.
fn mode_of(path: &Path) -> Option<u32> {
    std::fs::metadata(path).ok().map(|m| m.permissions().mode())
}

/// Whether the configuration holds a secret: a client secret, a user (with their
/// password), or credentials in the database URL.
fn holds_secrets(config: &Config) -> bool {
    config.clients.iter().any(|c| c.secrets.is_some())
        || !config.users.is_empty()
        || redact_url(&config.database_url) != config.database_url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::parse_file;
    use std::path::PathBuf;

    /// The configuration `toml_text` with the environment `env` (nothing else read).
    fn resolve(toml_text: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let file =
            parse_file(Path::new("/etc/portcullis.toml"), toml_text).map_err(|e| e.to_string())?;
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::resolve(Some(("/etc/portcullis.toml".into(), file)), &move |name| {
            env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
        .map_err(|e| e.to_string())
    }

    /// A configuration whose SQLite database (and so data directory) is `dir/data`,
    /// created with `mode`, plus `toml`.
    fn config_in(dir: &Path, mode: u32, toml: &str, env: &[(&str, &str)]) -> Config {
        let data = dir.join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(mode)).unwrap();
        let url = format!("database_url = \"sqlite://{}/p.db\"\n", data.display());
        resolve(&format!("{url}{toml}"), env).unwrap()
    }

    fn key_file_in(data_dir: &Path) -> PathBuf {
        let file = data_dir.join("master.key");
        std::fs::write(&file, "key").unwrap();
        file
    }

    #[test]
    fn warns_when_the_master_key_file_is_in_the_data_directory() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path(), 0o700, "", &[]);
        key_file_in(&config.data_dir);
        let found = warnings(&config, None, false);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("master.key"), "{}", found[0]);
        assert!(found[0].contains(ENV_MASTER_KEY_FILE), "names the fix");
        assert!(warnings(&config, None, true).is_empty(), "not with --dev");
    }

    #[test]
    fn a_master_key_file_outside_the_data_directory_or_in_the_environment_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let secrets = dir.path().join("secrets");
        std::fs::create_dir(&secrets).unwrap();
        let outside = key_file_in(&secrets);
        let outside = outside.to_str().unwrap();
        let config = config_in(dir.path(), 0o700, "", &[(ENV_MASTER_KEY_FILE, outside)]);
        assert!(warnings(&config, None, false).is_empty());
        // A link in the data directory to the secret mount is outside too.
        std::os::unix::fs::symlink(outside, config.data_dir.join("master.key")).unwrap();
        let linked = Config {
            master_key: MasterKeySource::File(config.data_dir.join("master.key")),
            ..config.clone()
        };
        assert!(warnings(&linked, None, false).is_empty());
        let key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let in_env = Config {
            master_key: resolve("", &[(ENV_MASTER_KEY, key)]).unwrap().master_key,
            ..config
        };
        assert!(warnings(&in_env, None, false).is_empty());
    }

    #[test]
    fn warns_when_the_data_directory_is_open_to_others() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path(), 0o755, "", &[]);
        let found = warnings(&config, None, true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("mode 755"), "{}", found[0]);
        assert!(found[0].contains("chmod 700"), "{}", found[0]);
    }

    #[test]
    fn warns_when_a_config_with_secrets_is_world_readable() {
        let dir = tempfile::tempdir().unwrap();
        let secret = "[[clients]]\nclient_id = \"web\"\nclient_secret = \"0123456789abcdef0123456789abcdef\"\nredirect_uris = [\"https://app.example.com/cb\"]\nscopes = [\"openid\"]\n";
        let config = config_in(dir.path(), 0o700, secret, &[]);
        let file = dir.path().join("portcullis.toml");
        std::fs::write(&file, secret).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let found = warnings(&config, Some(&file), true);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("readable by every user"), "{}", found[0]);
        assert!(found[0].contains("chmod 600"), "{}", found[0]);
        // Owner and group only: no warning.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(warnings(&config, Some(&file), true).is_empty());
    }

    #[test]
    fn a_world_readable_config_without_secrets_is_fine() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path(), 0o700, "", &[]);
        let file = dir.path().join("portcullis.toml");
        std::fs::write(&file, "").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(warnings(&config, Some(&file), true).is_empty());
    }
}
