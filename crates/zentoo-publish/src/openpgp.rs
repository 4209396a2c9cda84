//! OpenPGP signatures of stage tarballs' `.DIGESTS`, as Gentoo's release media carry them:
//! `<tarball>.DIGESTS.asc`, an armored detached signature `gpg --verify X.DIGESTS.asc X.DIGESTS`
//! accepts with the signer's public key.

use crate::error::{Error, Result};
use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};
use std::path::{Path, PathBuf};

/// An OpenPGP secret key that signs `.DIGESTS` files.
pub struct DigestsKey {
    key: SignedSecretKey,
}

impl std::fmt::Debug for DigestsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DigestsKey({})", self.fingerprint())
    }
}

impl DigestsKey {
    /// Reads an armored OpenPGP secret key (`gpg --armor --export-secret-keys`) whose primary
    /// key signs and has no passphrase. The error names the file, never its content.
    pub fn from_file(path: &Path) -> Result<DigestsKey> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::read(path, "OpenPGP signing key", e))?;
        DigestsKey::from_armored(&text)
            .map_err(|why| Error::invalid(path.display().to_string(), why))
    }

    /// [`DigestsKey::from_file`] of the armored text.
    pub fn from_armored(text: &str) -> std::result::Result<DigestsKey, String> {
        let (key, _) = SignedSecretKey::from_string(text).map_err(|_| {
            "not an armored OpenPGP secret key (expected -----BEGIN PGP PRIVATE KEY BLOCK-----)"
                .to_string()
        })?;
        key.verify_bindings()
            .map_err(|_| "the OpenPGP key's self-signatures do not verify".to_string())?;
        if key.primary_key.secret_params().is_encrypted() {
            return Err(
                "the OpenPGP key is protected by a passphrase: export it without one \
                 (`gpg --passphrase '' --pinentry-mode loopback --passwd KEYID`, then \
                 `gpg --armor --export-secret-keys KEYID`) and keep the file as a secret"
                    .into(),
            );
        }
        let key = DigestsKey { key };
        // A key that cannot sign (or is locked) fails here, not after a whole build.
        key.sign(b"probe")
            .map_err(|why| format!("the OpenPGP key cannot sign: {why}"))?;
        Ok(key)
    }

    /// The primary key's fingerprint (hex, upper case, as gpg prints it).
    pub fn fingerprint(&self) -> String {
        hex::encode_upper(self.key.fingerprint().as_bytes())
    }

    /// An armored detached signature (binary, SHA-512) of `data`.
    pub fn sign(&self, data: &[u8]) -> std::result::Result<String, String> {
        let signature = DetachedSignature::sign_binary_data(
            rand::rngs::OsRng,
            &self.key.primary_key,
            &Password::empty(),
            HashAlgorithm::Sha512,
            data,
        )
        .map_err(|e| e.to_string())?;
        signature
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| e.to_string())
    }

    /// Signs the file at `digests`, writing `<digests>.asc`, which it returns.
    pub fn sign_file(&self, digests: &Path) -> Result<PathBuf> {
        let data = std::fs::read(digests).map_err(|e| Error::read(digests, "DIGESTS", e))?;
        let armored = self
            .sign(&data)
            .map_err(|why| Error::invalid(digests.display().to_string(), why))?;
        let mut name = digests.as_os_str().to_owned();
        name.push(".asc");
        let out = PathBuf::from(name);
        std::fs::write(&out, armored).map_err(|e| Error::write(out.clone(), e))?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_that_is_not_a_secret_key_is_refused_without_showing_it() {
        for text in [
            "",
            "secret-token-123",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n",
        ] {
            let why = DigestsKey::from_armored(text).expect_err(text);
            assert!(why.contains("OpenPGP"), "{why}");
            assert!(!why.contains("secret-token"), "{why}");
        }
    }
}
