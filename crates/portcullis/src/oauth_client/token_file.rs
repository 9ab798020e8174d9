//! Saved token responses (`--save FILE`, `token refresh --from FILE`).
//!
//! A save never exposes the tokens and never writes through someone else's file:
//! - the JSON goes to a new temporary file in the same directory, created exclusively
//!   (`O_CREAT|O_EXCL`, so a planted file or symbolic link is never opened) with mode
//!   0600 from the start (no window in which another user can open it);
//! - it is synced, then renamed over FILE: readers see the old or the new response,
//!   never half of one, and a rotated refresh token is never lost to a crash;
//! - an existing FILE must be a regular file owned by the same user; a symbolic link,
//!   a directory or another user's file is refused rather than replaced.

use super::UsageError;
use anyhow::{Context, Result, bail};
use serde_json::{Map, Value};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Writes `response` as pretty JSON to `path` (see the module documentation).
pub fn save(path: &Path, response: &Map<String, Value>) -> Result<()> {
    // Escaped like standard output: the file may well be `cat` to a terminal.
    let text = super::terminal::json_text(response).context("cannot format the token response")?;
    let (temp, mut file) = create_temp(path)?;
    let written = write_and_replace(path, &temp, &mut file, text.as_bytes());
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// Reads a saved token response. Warns when other users may read the file.
pub fn load(path: &Path) -> Result<Map<String, Value>> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        return Err(UsageError(format!("{} is not a regular file", path.display())).into());
    }
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "warning: other users may read {} (mode {:o}); `chmod 600` it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
    let mut text = String::new();
    Read::by_ref(&mut file)
        .take(MAX_FILE)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", path.display()))?;
    match serde_json::from_str(&text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(UsageError(format!(
            "{} is not a saved token response (a JSON object)",
            path.display()
        ))
        .into()),
    }
}

/// Writes, syncs, checks the destination, and renames `temp` over `path`.
fn write_and_replace(path: &Path, temp: &Path, file: &mut File, bytes: &[u8]) -> Result<()> {
    file.write_all(bytes)
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", temp.display()))?;
    let owner = file
        .metadata()
        .with_context(|| format!("cannot read {}", temp.display()))?
        .uid();
    check_destination(path, owner)?;
    fs::rename(temp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    // Make the rename itself durable (best effort: not every file system syncs a directory).
    if let Ok(dir) = File::open(directory_of(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// An existing `path` must be a regular file owned by `owner` (our own uid, read from
/// the temporary file we just created).
fn check_destination(path: &Path, owner: u32) -> Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot check {}", path.display())),
    };
    if meta.file_type().is_symlink() {
        bail!(
            "refusing to replace {}: it is a symbolic link (save to the file it points to)",
            path.display()
        );
    }
    if !meta.is_file() {
        bail!("refusing to replace {}: not a regular file", path.display());
    }
    if meta.uid() != owner {
        bail!(
            "refusing to replace {}: it belongs to another user",
            path.display()
        );
    }
    Ok(())
}

/// Creates `.{name}.{random}.tmp` beside `path`, exclusively, with mode 0600.
fn create_temp(path: &Path) -> Result<(PathBuf, File)> {
    let Some(name) = path.file_name() else {
        return Err(UsageError(format!("{} is not a file name", path.display())).into());
    };
    let mut random = [0u8; 8];
    portcullis_core::secret::random_bytes(&mut random)?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let temp = directory_of(path).join(format!(".{}.{suffix}.tmp", name.to_string_lossy()));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("cannot create {}", temp.display()))?;
    Ok((temp, file))
}

/// The directory `path` is in (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

/// Largest saved token response read (they are a few KiB).
const MAX_FILE: u64 = 1024 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn response(token: &str) -> Map<String, Value> {
        json!({"access_token": token, "token_type": "Bearer"})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn save_creates_0600_and_replaces_atomically() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("tokens.json");
        save(&path, &response("one")).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        save(&path, &response("two")).unwrap();
        assert_eq!(load(&path).unwrap()["access_token"], "two");
        let leftovers: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
    }

    #[test]
    fn save_refuses_a_symbolic_link() {
        let dir = tempfile::TempDir::new().unwrap();
        let target = dir.path().join("elsewhere");
        fs::write(&target, "keep").unwrap();
        let link = dir.path().join("tokens.json");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = save(&link, &response("x")).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 2);
    }
}
