//! The server's signing key on disk: `<data_dir>/signing.key`, Synapse's format, mode 0600.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::proto::signing::SigningKey;

/// Makes a new key with a random seed and a random version such as `a_Xy3q`.
pub fn generate() -> Result<SigningKey, Box<dyn std::error::Error>> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness for a key: {e}"))?;
    let mut tag = [0u8; 4];
    getrandom::fill(&mut tag).map_err(|e| format!("no randomness for a key: {e}"))?;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let version: String = std::iter::once("a_".to_owned())
        .chain(
            tag.iter()
                .map(|byte| char::from(ALPHABET[usize::from(*byte) % ALPHABET.len()]).to_string()),
        )
        .collect();
    Ok(SigningKey::from_seed(&version, seed)?)
}

/// Writes a new key file, refusing to replace an existing one.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<(), Box<dyn std::error::Error>> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create signing key {}: {e}", path.display()))?;
    file.write_all(key.to_key_file().as_bytes())?;
    file.sync_all()?;
    Ok(())
}

/// Reads the key file, refusing one that every user of the machine can read.
pub fn read(path: &Path) -> Result<SigningKey, Box<dyn std::error::Error>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| format!("cannot read signing key {}: {e}", path.display()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o004 != 0 {
        return Err(format!(
            "signing key {} has mode {mode:o}, readable by every user; run `chmod 600 {}`",
            path.display(),
            path.display()
        )
        .into());
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read signing key {}: {e}", path.display()))?;
    SigningKey::parse_key_file(&text)
        .map_err(|e| format!("signing key {}: {e}", path.display()).into())
}

/// Reads the key, or makes and writes one on first start.
pub fn read_or_generate(path: &Path) -> Result<(SigningKey, bool), Box<dyn std::error::Error>> {
    if path.exists() {
        return Ok((read(path)?, false));
    }
    let key = generate()?;
    write_new(path, &key)?;
    Ok((key, true))
}

/// Creates the data folder (mode 0700) if it does not exist.
pub fn ensure_data_dir(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    if path.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .map_err(|e| format!("cannot create data folder {}: {e}", path.display()).into())
}
