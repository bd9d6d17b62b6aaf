//! Signing JSON objects with ed25519 (spec: appendices, "Signing JSON"), and the server's
//! signing key in the file format Synapse uses, so that keys can move between servers.
//!
//! The caller supplies the key seed: this module generates no randomness.

use base64::Engine as _;
use base64::alphabet;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};
use serde_json::{Map, Value};

use super::canonical_json::{self, JsonError};

/// Unpadded standard base64, the encoding of every key, hash and signature in Matrix.
pub fn encode_base64(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// Lenient decoding, as Synapse's (Python's) base64 is: padding optional, and non-zero
/// trailing bits accepted (the spec's own test seed has them).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decodes unpadded base64, tolerating padding (spec: appendices, "Unpadded Base64").
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    LENIENT.decode(text).ok()
}

/// A server's ed25519 signing key with its key id (`ed25519:<version>`).
#[derive(Clone)]
pub struct SigningKey {
    version: String,
    key_pair: KeyPair,
}

/// Why a signing key file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileError {
    /// Not of the form `ed25519 <version> <base64 seed>`.
    Malformed,
    /// The version contains characters other than `[a-zA-Z0-9_]`.
    BadVersion,
    /// The seed is not 32 bytes of base64.
    BadSeed,
}

impl std::fmt::Display for KeyFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyFileError::Malformed => write!(f, "expected one line: ed25519 <version> <seed>"),
            KeyFileError::BadVersion => write!(f, "key version must match [a-zA-Z0-9_]+"),
            KeyFileError::BadSeed => write!(f, "seed is not 32 bytes of base64"),
        }
    }
}

impl std::error::Error for KeyFileError {}

impl SigningKey {
    /// Builds a key from a 32-byte seed; `version` must match `[a-zA-Z0-9_]+`.
    pub fn from_seed(version: &str, seed: [u8; 32]) -> Result<Self, KeyFileError> {
        if version.is_empty()
            || !version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(KeyFileError::BadVersion);
        }
        Ok(SigningKey {
            version: version.to_owned(),
            key_pair: KeyPair::from_seed(Seed::new(seed)),
        })
    }

    /// Parses Synapse's signing key file format: `ed25519 <version> <unpadded base64 seed>`.
    pub fn parse_key_file(text: &str) -> Result<Self, KeyFileError> {
        let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let mut parts = line.split_whitespace();
        let (Some("ed25519"), Some(version), Some(seed), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(KeyFileError::Malformed);
        };
        let seed = decode_base64(seed).ok_or(KeyFileError::BadSeed)?;
        let seed: [u8; 32] = seed.try_into().map_err(|_| KeyFileError::BadSeed)?;
        Self::from_seed(version, seed)
    }

    /// The key file line (Synapse's format), ending in a newline.
    pub fn to_key_file(&self) -> String {
        format!(
            "ed25519 {} {}\n",
            self.version,
            encode_base64(self.key_pair.sk.seed().as_ref())
        )
    }

    /// `ed25519:<version>`.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.version)
    }

    /// The public key in unpadded base64, as published in `verify_keys`.
    pub fn public_key_base64(&self) -> String {
        encode_base64(self.key_pair.pk.as_ref())
    }

    /// Signs raw bytes (ed25519 is deterministic: same key and message, same signature).
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        *self.key_pair.sk.sign(message, None)
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the seed.
        write!(f, "SigningKey({})", self.key_id())
    }
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// No `signatures.<signer>.<key id>` entry.
    MissingSignature,
    /// The signature or the public key is not valid base64 of the right length.
    MalformedSignature,
    /// The object has no canonical form.
    NotCanonical(JsonError),
    /// The signature does not match the object and key.
    BadSignature,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::MissingSignature => write!(f, "no signature from that key"),
            VerifyError::MalformedSignature => write!(f, "malformed signature or key"),
            VerifyError::NotCanonical(e) => write!(f, "{e}"),
            VerifyError::BadSignature => write!(f, "signature does not match"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The canonical bytes that are signed: the object without `signatures` and `unsigned`.
pub fn signing_bytes(object: &Map<String, Value>) -> Result<String, JsonError> {
    let mut stripped = object.clone();
    stripped.remove("signatures");
    stripped.remove("unsigned");
    canonical_json::encode(&Value::Object(stripped))
}

/// Adds `signatures.<signer>.<key id>` to `object`, keeping any other signatures.
pub fn sign_json(
    object: &mut Map<String, Value>,
    signer: &str,
    key: &SigningKey,
) -> Result<(), JsonError> {
    let bytes = signing_bytes(object)?;
    let signature = encode_base64(&key.sign(bytes.as_bytes()));
    let signatures = object
        .entry("signatures")
        .or_insert_with(|| Value::Object(Map::new()));
    if !signatures.is_object() {
        *signatures = Value::Object(Map::new());
    }
    let by_signer = signatures
        .as_object_mut()
        .ok_or(JsonError::NotAnObject)?
        .entry(signer)
        .or_insert_with(|| Value::Object(Map::new()));
    if !by_signer.is_object() {
        *by_signer = Value::Object(Map::new());
    }
    by_signer
        .as_object_mut()
        .ok_or(JsonError::NotAnObject)?
        .insert(key.key_id(), Value::String(signature));
    Ok(())
}

/// Checks `signatures.<signer>.<key_id>` on `object` against `public_key_base64`.
pub fn verify_json(
    object: &Map<String, Value>,
    signer: &str,
    key_id: &str,
    public_key_base64: &str,
) -> Result<(), VerifyError> {
    let signature = object
        .get("signatures")
        .and_then(|s| s.get(signer))
        .and_then(|s| s.get(key_id))
        .and_then(Value::as_str)
        .ok_or(VerifyError::MissingSignature)?;
    let signature = decode_base64(signature)
        .and_then(|s| Signature::from_slice(&s).ok())
        .ok_or(VerifyError::MalformedSignature)?;
    let public_key = decode_base64(public_key_base64)
        .and_then(|k| PublicKey::from_slice(&k).ok())
        .ok_or(VerifyError::MalformedSignature)?;
    let bytes = signing_bytes(object).map_err(VerifyError::NotCanonical)?;
    public_key
        .verify(bytes.as_bytes(), &signature)
        .map_err(|_| VerifyError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Spec: appendices, "Cryptographic test vectors": the seed is
    // YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1 and the key id ed25519:1.
    fn spec_key() -> SigningKey {
        SigningKey::parse_key_file("ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").unwrap()
    }

    fn signed(value: Value) -> Value {
        let mut object = value.as_object().unwrap().clone();
        sign_json(&mut object, "domain", &spec_key()).unwrap();
        Value::Object(object)
    }

    #[test]
    fn spec_vector_empty_object() {
        assert_eq!(
            signed(json!({})),
            json!({"signatures": {"domain": {"ed25519:1": "K8280/U9SSy9IVtjBuVeLr+HpOB4BQFWbg+UZaADMtTdGYI7Geitb76LTrr5QV/7Xg4ahLwYGYZzuHGZKM5ZAQ"}}})
        );
    }

    #[test]
    fn spec_vector_data_object() {
        assert_eq!(
            signed(json!({"one": 1, "two": "Two"})),
            json!({"one": 1, "two": "Two", "signatures": {"domain": {"ed25519:1": "KqmLSbO39/Bzb0QIYE82zqLwsA+PDzYIpIRA2sRQ4sL53+sN6/fpNSoqE7BP7vBZhG6kYdD13EIMJpvhJI+6Bw"}}})
        );
    }

    #[test]
    fn verify_round_trip_and_tamper() {
        let key = spec_key();
        let object = signed(json!({"a": 1}));
        let object = object.as_object().unwrap();
        verify_json(object, "domain", "ed25519:1", &key.public_key_base64()).unwrap();
        let mut tampered = object.clone();
        tampered.insert("a".into(), json!(2));
        assert_eq!(
            verify_json(&tampered, "domain", "ed25519:1", &key.public_key_base64()),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify_json(object, "other", "ed25519:1", &key.public_key_base64()),
            Err(VerifyError::MissingSignature)
        );
    }

    #[test]
    fn key_file_round_trip() {
        let key = spec_key();
        let again = SigningKey::parse_key_file(&key.to_key_file()).unwrap();
        assert_eq!(again.public_key_base64(), key.public_key_base64());
        assert_eq!(again.key_id(), "ed25519:1");
        assert!(SigningKey::parse_key_file("ed25519 a-b AAAA").is_err());
        assert!(SigningKey::parse_key_file("rsa 1 AAAA").is_err());
        assert!(SigningKey::parse_key_file("ed25519 1 AAAA").is_err());
    }

    #[test]
    fn base64_tolerates_padding() {
        assert_eq!(decode_base64("YQ").unwrap(), b"a");
        assert_eq!(decode_base64("YQ==").unwrap(), b"a");
        assert!(decode_base64("!!").is_none());
    }
}
