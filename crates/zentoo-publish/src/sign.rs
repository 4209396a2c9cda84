//! Signatures cosign verifies: an ECDSA P-256 key (PKCS#8 PEM, as `openssl genpkey` writes
//! it) signs an image in cosign's "simple signing" form (the `sha256-<hex>.sig` tag) and
//! in-toto statements in DSSE envelopes (the `sha256-<hex>.att` tag), so `cosign verify --key`
//! and `cosign verify-attestation --key` accept them with the public key.

use crate::error::{Error, Result};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::path::Path;

/// Media type of a simple-signing payload layer.
pub const SIMPLE_SIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Media type of a DSSE envelope layer.
pub const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
/// The in-toto payload type of a DSSE envelope.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";
/// Layer annotation holding a simple-signing signature (base64).
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// Layer annotation naming an attestation's predicate type.
pub const PREDICATE_ANNOTATION: &str = "predicateType";
/// Layer annotation naming the key that made a signature (its public key's SHA-256), so a
/// new signature replaces this key's old one and keeps every other signer's.
pub const KEY_ANNOTATION: &str = "dev.zentoo.signing-key";

/// DER prefix of a P-256 `SubjectPublicKeyInfo` before the 65-byte uncompressed point.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A signing key.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_id())
    }
}

impl SigningKey {
    /// Reads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) ECDSA P-256 key. The error names
    /// the file and never shows its content.
    pub fn from_pem_file(path: &Path) -> Result<SigningKey> {
        let text = std::fs::read(path).map_err(|e| Error::read(path, "signing key", e))?;
        SigningKey::from_pem(&text).map_err(|why| Error::invalid(path.display().to_string(), why))
    }

    /// [`SigningKey::from_pem_file`] of PEM bytes.
    pub fn from_pem(pem_bytes: &[u8]) -> std::result::Result<SigningKey, String> {
        let block = pem::parse(pem_bytes)
            .map_err(|_| "not a PEM file (expected -----BEGIN PRIVATE KEY-----)".to_string())?;
        if block.tag() != "PRIVATE KEY" {
            return Err(format!(
                "a PEM '{}' block: expected 'PRIVATE KEY' (PKCS#8; `openssl pkcs8 -topk8 -nocrypt` converts)",
                block.tag()
            ));
        }
        SigningKey::from_pkcs8(block.contents())
    }

    /// A key from PKCS#8 DER.
    pub fn from_pkcs8(der: &[u8]) -> std::result::Result<SigningKey, String> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
            .map_err(|e| format!("not an ECDSA P-256 PKCS#8 key: {e}"))?;
        Ok(SigningKey { pair, rng })
    }

    /// A new random key, as PKCS#8 DER (for tests and `zentoo` key generation).
    pub fn generate_pkcs8() -> std::result::Result<Vec<u8>, String> {
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|e| format!("generating a key: {e}"))
    }

    /// The public key as PEM (`-----BEGIN PUBLIC KEY-----`), what `cosign verify --key` reads.
    pub fn public_key_pem(&self) -> String {
        pem::encode(&pem::Pem::new("PUBLIC KEY", self.public_key_der()))
    }

    fn public_key_der(&self) -> Vec<u8> {
        let mut der = P256_SPKI_PREFIX.to_vec();
        der.extend_from_slice(self.pair.public_key().as_ref());
        der
    }

    /// `sha256:<hex>` of the public key (DER): names the key without revealing anything.
    pub fn key_id(&self) -> String {
        format!(
            "sha256:{}",
            hex::encode(Sha256::digest(self.public_key_der()))
        )
    }

    /// An ECDSA P-256 SHA-256 signature (ASN.1 DER) of `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        self.pair
            .sign(&self.rng, message)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| Error::invalid("signing key", "signing failed"))
    }
}

/// cosign's simple-signing payload for the image manifest `digest` in repository
/// `docker_reference` (`host/repo`, no tag).
pub fn simple_signing_payload(docker_reference: &str, digest: &str) -> Vec<u8> {
    let payload = json!({
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": null,
    });
    serde_json::to_vec(&payload).unwrap_or_default()
}

/// DSSE's pre-authentication encoding of a payload.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

/// A DSSE envelope of the in-toto `statement`, signed with `key`.
pub fn dsse_envelope(key: &SigningKey, statement: &[u8]) -> Result<Vec<u8>> {
    let signature = key.sign(&pae(IN_TOTO, statement))?;
    let envelope = json!({
        "payloadType": IN_TOTO,
        "payload": B64.encode(statement),
        "signatures": [{"keyid": "", "sig": B64.encode(signature)}],
    });
    Ok(serde_json::to_vec(&envelope).unwrap_or_default())
}

/// An in-toto v1 statement about the manifest `digest` (named `name`).
pub fn statement(
    name: &str,
    digest: &str,
    predicate_type: &str,
    predicate: &serde_json::Value,
) -> Vec<u8> {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": name, "digest": {"sha256": hex}}],
        "predicateType": predicate_type,
        "predicate": predicate,
    });
    serde_json::to_vec(&statement).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{ECDSA_P256_SHA256_ASN1, UnparsedPublicKey};

    fn key() -> SigningKey {
        SigningKey::from_pkcs8(&SigningKey::generate_pkcs8().unwrap()).unwrap()
    }

    #[test]
    fn signatures_verify_with_the_public_key_and_fail_for_other_bytes() {
        let key = key();
        let sig = key.sign(b"payload").unwrap();
        let public =
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, key.pair.public_key().as_ref());
        assert!(public.verify(b"payload", &sig).is_ok());
        assert!(public.verify(b"payloaD", &sig).is_err());
        let pem = key.public_key_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
        assert!(key.key_id().starts_with("sha256:"));
    }

    /// `openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256` (a test key).
    const OPENSSL_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgB1cwAbWdnHTNUrSv\ne6nqooRvTRcCYjLsadaMfyJPefOhRANCAARzjsPkgE2/IpLF2qkX1jpBYmynFaDy\n5vsllEdAc49o6mH1yXyAbif24FXSr6cP6ncfMFdqRSSfu+k28f862KmY\n-----END PRIVATE KEY-----";
    /// `openssl pkey -pubout` of it.
    const OPENSSL_PUB: &str = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEc47D5IBNvyKSxdqpF9Y6QWJspxWg\n8ub7JZRHQHOPaOph9cl8gG4n9uBV0q+nD+p3HzBXakUkn7vpNvH/OtipmA==\n-----END PUBLIC KEY-----";

    #[test]
    fn openssl_keys_load_and_give_openssls_public_key() {
        let key = SigningKey::from_pem(OPENSSL_KEY.as_bytes()).unwrap();
        assert_eq!(
            key.public_key_pem().trim().replace("\r\n", "\n"),
            OPENSSL_PUB
        );
    }

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(
            pae("application/vnd.in-toto+json", b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}"
        );
    }

    #[test]
    fn keys_that_are_not_pkcs8_p256_say_so() {
        let e = SigningKey::from_pem(
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        )
        .unwrap_err();
        assert!(e.contains("expected 'PRIVATE KEY'"), "{e}");
        assert!(
            SigningKey::from_pem(b"nonsense")
                .unwrap_err()
                .contains("not a PEM")
        );
        let e =
            SigningKey::from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .unwrap_err();
        assert!(e.contains("not an ECDSA P-256"), "{e}");
    }

    #[test]
    fn a_statement_names_the_digest_hex() {
        let s: serde_json::Value = serde_json::from_slice(&statement(
            "r/x",
            "sha256:ab",
            "https://slsa.dev/provenance/v1",
            &json!({}),
        ))
        .unwrap();
        assert_eq!(s["subject"][0]["digest"]["sha256"], "ab");
    }
}
