//! A credential's token as text: `gch_t<id>_<secret>`, where `<id>` is the
//! credential's number in decimal and `<secret>` its 32 random bytes in
//! base64url without padding (43 characters). The prefix says what it is
//! (to a person, and to secret scanners); the id finds the credential
//! without a scan; only the secret's SHA-256 is kept, and it is compared in
//! constant time.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::CredentialId;
use crate::entropy::Entropy;

/// What every credential's token starts with.
pub const TOKEN_PREFIX: &str = "gch_";

/// A secret's bytes: 256 bits.
const SECRET_BYTES: usize = 32;

/// A token's secret part, only ever held long enough to show it once.
pub(crate) struct Secret([u8; SECRET_BYTES]);

impl Secret {
    pub(crate) fn draw(entropy: &dyn Entropy) -> Secret {
        let mut bytes = [0; SECRET_BYTES];
        entropy.fill(&mut bytes);
        Secret(bytes)
    }

    pub(crate) fn sha256(&self) -> [u8; 32] {
        Sha256::digest(self.0).into()
    }

    /// The token text for credential `id`.
    pub(crate) fn token(&self, id: CredentialId) -> String {
        format!("{TOKEN_PREFIX}t{}_{}", id.0, URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// Reads a token: its credential id and its secret, or `None` if it is not
/// one this format makes.
pub(crate) fn parse(token: &str) -> Option<(CredentialId, Secret)> {
    let rest = token.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id = CredentialId::parse(id)?;
    let mut bytes = [0; SECRET_BYTES];
    let decoded = URL_SAFE_NO_PAD.decode_slice(secret, &mut bytes).ok()?;
    (decoded == SECRET_BYTES && secret.len() == 43).then_some((id, Secret(bytes)))
}

/// Whether `secret` is the one whose digest was kept (constant time).
pub(crate) fn matches(secret: &Secret, kept_sha256: &[u8; 32]) -> bool {
    bool::from(secret.sha256().ct_eq(kept_sha256))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    #[test]
    fn a_token_reads_back_as_its_id_and_secret() {
        let secret = Secret::draw(&SeededEntropy::new(7));
        let token = secret.token(CredentialId(12));
        assert!(token.starts_with("gch_t12_") && token.len() == "gch_t12_".len() + 43, "{token}");
        let (id, read) = parse(&token).expect("parses");
        assert_eq!(id, CredentialId(12));
        assert!(matches(&read, &secret.sha256()));
    }

    #[test]
    fn anything_else_is_not_a_token() {
        let token = Secret::draw(&SeededEntropy::new(7)).token(CredentialId(3));
        for bad in [
            "",
            "gch_",
            "gch_t3",
            "gch_3_AAAA",
            "gch_tx_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &token[..token.len() - 1],
            &format!("{token}A"),
            &token.replace("gch_", "xyz_"),
        ] {
            assert!(parse(bad).is_none(), "{bad:?}");
        }
    }
}
