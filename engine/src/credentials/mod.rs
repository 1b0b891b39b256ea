//! Credentials for staff and machines: tokens with a role (`admin`,
//! `promoter`, `door`, `viewer`, `shop`) and a scope (the events they act
//! on), made and revoked by an admin, kept as the SHA-256 of a 256-bit
//! secret (see [`text`] for the token's format). The environment's admin
//! token is not stored here: it counts as credential `t0`, the first admin.
//!
//! Every change is a [`CredentialRecord`] in the log, applied by one
//! function live and on replay; the state is kept whole in the snapshot's
//! named section "credentials". What each role may do is the gateway's
//! policy (`http/auth.rs`); here are only who holds what.

mod record;
mod text;

use std::collections::BTreeMap;
use std::fmt;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

pub use self::record::CredentialRecord;
use self::text::Secret;
pub use self::text::TOKEN_PREFIX;
use crate::commit::{ApplyError, Receipt, SinkError};
use crate::entropy::Entropy;
use crate::limits::{MAX_CREDENTIALS, MAX_CREDENTIAL_LABEL_BYTES, MAX_EVENTS};
use crate::time::UnixTimeMs;

/// A credential's number; shown as `t` and the number (`t12`).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CredentialId(pub u64);

impl CredentialId {
    /// The environment's (or configuration's) admin token: the first admin.
    pub const ENV_ADMIN: Self = Self(0);

    /// Reads `t<number>` (the number in decimal, no sign, no leading zero).
    pub fn parse(text: &str) -> Option<Self> {
        let digits = text.strip_prefix('t')?;
        let plain = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
        plain.then(|| digits.parse().ok().map(Self)).flatten()
    }
}

impl fmt::Display for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t{}", self.0)
    }
}

impl fmt::Debug for CredentialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What a credential is for. Kept in the log: new roles go at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Everything.
    Admin,
    /// Its own events: those it created, and those it was given.
    Promoter,
    /// Checking tickets in at one event.
    Door,
    /// Reading its events' figures and orders.
    Viewer,
    /// Confirming purchases for its events (a shop that took the money).
    Shop,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Promoter, Role::Door, Role::Viewer, Role::Shop];

    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Promoter => "promoter",
            Role::Door => "door",
            Role::Viewer => "viewer",
            Role::Shop => "shop",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }
}

/// A credential as kept: never its secret, only the secret's SHA-256.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub id: CredentialId,
    pub role: Role,
    /// The event ids it acts on (none for an admin).
    pub events: Vec<String>,
    pub label: String,
    pub secret_sha256: [u8; 32],
    pub created_at: UnixTimeMs,
    pub created_by: CredentialId,
    pub expires_at: Option<UnixTimeMs>,
    pub revoked_at: Option<UnixTimeMs>,
}

/// A credential asked for: checked by [`NewCredential::check`].
#[derive(Clone, Debug)]
pub struct NewCredential {
    pub role: Role,
    pub events: Vec<String>,
    pub label: String,
    pub expires_at: Option<UnixTimeMs>,
}

/// A credential just made, with its token: the only time the token exists.
#[derive(Debug)]
pub struct Issued {
    pub credential: Credential,
    pub token: String,
}

/// A token that checked out: who it is, as of now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub id: CredentialId,
    pub role: Role,
    pub events: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("the token is not valid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token was revoked")]
    Revoked,
    #[error("there is no token {0:?}")]
    Unknown(String),
    #[error("{message}")]
    BadRequest { field: String, message: String },
    #[error("the server keeps as many tokens as it can ({MAX_CREDENTIALS}, revoked ones included)")]
    TooMany,
    #[error(transparent)]
    Log(#[from] SinkError),
}

impl CredentialError {
    /// The API's code for it: the one catalogue of codes is the engine's.
    pub fn code(&self) -> &'static str {
        match self {
            CredentialError::Invalid => "invalid_token",
            CredentialError::Expired => "token_expired",
            CredentialError::Revoked => "token_revoked",
            CredentialError::Unknown(_) => "unknown_token",
            CredentialError::BadRequest { .. } => "invalid_body",
            CredentialError::TooMany => "too_many_tokens",
            CredentialError::Log(sink) => sink.code(),
        }
    }

    pub(crate) fn bad(field: impl Into<String>, message: impl Into<String>) -> Self {
        CredentialError::BadRequest { field: field.into(), message: message.into() }
    }
}

impl NewCredential {
    /// The role's rules for its scope, the label's length, a future expiry.
    pub fn check(&self, now: UnixTimeMs) -> Result<(), CredentialError> {
        let events = self.events.len();
        let scope_fits = match self.role {
            Role::Admin => events == 0,
            Role::Promoter => true,
            Role::Door => events == 1,
            Role::Viewer | Role::Shop => events >= 1,
        };
        if !scope_fits {
            let rule = match self.role {
                Role::Admin => "an admin token acts on every event: give no events",
                Role::Door => "a door token is for exactly one event",
                _ => "this role needs at least one event",
            };
            return Err(CredentialError::bad("events", rule));
        }
        if events > MAX_EVENTS {
            return Err(CredentialError::bad("events", format!("at most {MAX_EVENTS} events")));
        }
        if let Some(twice) = self.events.iter().enumerate().find(|(i, e)| self.events[..*i].contains(e)) {
            return Err(CredentialError::bad(format!("events[{}]", twice.0), "an event is named twice"));
        }
        if self.label.trim().is_empty() || self.label.len() > MAX_CREDENTIAL_LABEL_BYTES {
            return Err(CredentialError::bad("label", format!("1 to {MAX_CREDENTIAL_LABEL_BYTES} bytes, not blank")));
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(CredentialError::bad("expires_at", "must be in the future"));
        }
        Ok(())
    }
}

/// Every credential, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CredentialState {
    credentials: BTreeMap<CredentialId, Credential>,
}

impl CredentialState {
    fn next_id(&self) -> CredentialId {
        CredentialId(self.credentials.keys().next_back().map_or(1, |last| last.0 + 1))
    }
}

/// The credentials, behind one lock: changes are logged and applied under
/// it, so a snapshot's cut never falls between a record and its effect.
#[derive(Debug, Default)]
pub struct Credentials {
    state: RwLock<CredentialState>,
}

impl Credentials {
    /// Checks a token: it must name a stored credential, carry its secret,
    /// and be neither revoked nor expired. No scan: a lookup by id, then a
    /// constant-time comparison of the secret's digest.
    pub fn verify(&self, token: &str, now: UnixTimeMs) -> Result<Verified, CredentialError> {
        let (id, secret) = text::parse(token).ok_or(CredentialError::Invalid)?;
        let state = self.state.read();
        let credential = state.credentials.get(&id).ok_or(CredentialError::Invalid)?;
        if !text::matches(&secret, &credential.secret_sha256) {
            return Err(CredentialError::Invalid);
        }
        if credential.revoked_at.is_some() {
            return Err(CredentialError::Revoked);
        }
        if credential.expires_at.is_some_and(|at| at <= now) {
            return Err(CredentialError::Expired);
        }
        Ok(Verified { id, role: credential.role, events: credential.events.clone() })
    }

    /// Every credential, oldest first (revoked and expired ones included).
    pub fn list(&self) -> Vec<Credential> {
        self.state.read().credentials.values().cloned().collect()
    }

    pub fn get(&self, id: CredentialId) -> Option<Credential> {
        self.state.read().credentials.get(&id).cloned()
    }

    /// Makes a credential for `new` (already checked, its events known to
    /// exist), logged through `log`; the token is in the answer only.
    pub(crate) fn create(
        &self,
        new: NewCredential,
        by: CredentialId,
        now: UnixTimeMs,
        entropy: &dyn Entropy,
        log: impl FnOnce(&CredentialRecord) -> Result<Receipt, SinkError>,
    ) -> Result<(Issued, Receipt), CredentialError> {
        let secret = Secret::draw(entropy);
        let mut made = None;
        let receipt = self.change(
            |state| {
                if state.credentials.len() >= MAX_CREDENTIALS {
                    return Err(CredentialError::TooMany);
                }
                let credential = Credential {
                    id: state.next_id(),
                    role: new.role,
                    events: new.events,
                    label: new.label,
                    secret_sha256: secret.sha256(),
                    created_at: now,
                    created_by: by,
                    expires_at: new.expires_at,
                    revoked_at: None,
                };
                made = Some(credential.clone());
                Ok(Some(CredentialRecord::Created { credential }))
            },
            log,
        )?;
        let credential = made.expect("a receipt means the credential was made");
        let token = secret.token(credential.id);
        Ok((Issued { credential, token }, receipt))
    }

    /// Revokes credential `id`; revoking it again changes nothing (`Receipt::NONE`).
    pub(crate) fn revoke(
        &self,
        id: CredentialId,
        by: CredentialId,
        now: UnixTimeMs,
        log: impl FnOnce(&CredentialRecord) -> Result<Receipt, SinkError>,
    ) -> Result<Receipt, CredentialError> {
        self.change(
            |state| match state.credentials.get(&id) {
                None => Err(CredentialError::Unknown(id.to_string())),
                Some(found) if found.revoked_at.is_some() => Ok(None),
                Some(_) => Ok(Some(CredentialRecord::Revoked { id, at: now, by })),
            },
            log,
        )
    }

    /// One change: `build` checks it against the state and gives its record
    /// (or nothing to do), `log` logs it (the record itself, or a record
    /// that carries it), then the record is applied under the same lock.
    pub(crate) fn change(
        &self,
        build: impl FnOnce(&CredentialState) -> Result<Option<CredentialRecord>, CredentialError>,
        log: impl FnOnce(&CredentialRecord) -> Result<Receipt, SinkError>,
    ) -> Result<Receipt, CredentialError> {
        let mut state = self.state.write();
        let Some(record) = build(&state)? else { return Ok(Receipt::NONE) };
        let receipt = log(&record)?;
        state.apply(&record).expect("a record built from the state fits it");
        Ok(receipt)
    }

    /// Replays a record read from the log.
    pub(crate) fn apply(&self, record: &CredentialRecord) -> Result<(), ApplyError> {
        self.state.write().apply(record)
    }

    /// The state as bytes, with the log sequence `cut` reads under the lock;
    /// none while there is no credential (nothing to keep: a snapshot
    /// without the section still loads in a build that predates it).
    pub(crate) fn snapshot(&self, cut: impl FnOnce() -> u64) -> Option<(Vec<u8>, u64)> {
        let state = self.state.read();
        if state.credentials.is_empty() {
            return None;
        }
        let covered = cut();
        Some((crate::codec::encode(&*state).expect("credentials encode"), covered))
    }

    /// Takes the state a snapshot kept.
    pub(crate) fn restore(&self, bytes: &[u8]) -> Result<(), String> {
        let state: CredentialState = crate::codec::decode(bytes).map_err(|e| format!("credentials: {e}"))?;
        *self.state.write() = state;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SeededEntropy;

    const NOW: UnixTimeMs = UnixTimeMs(1_800_000_000_000);

    fn new(role: Role, events: &[&str]) -> NewCredential {
        let events = events.iter().map(|e| e.to_string()).collect();
        NewCredential { role, events, label: "desk".into(), expires_at: Some(NOW.plus_s(60)) }
    }

    fn made(credentials: &Credentials, role: Role, events: &[&str]) -> Issued {
        let entropy = SeededEntropy::new(1);
        let logged = |_: &CredentialRecord| Ok(Receipt(1));
        credentials.create(new(role, events), CredentialId::ENV_ADMIN, NOW, &entropy, logged).unwrap().0
    }

    #[test]
    fn a_token_verifies_until_revoked_or_expired() {
        let credentials = Credentials::default();
        let issued = made(&credentials, Role::Viewer, &["show"]);
        let verified = credentials.verify(&issued.token, NOW).unwrap();
        assert_eq!((verified.id, verified.role, verified.events), (CredentialId(1), Role::Viewer, vec!["show".into()]));
        assert!(matches!(credentials.verify(&issued.token, NOW.plus_s(60)), Err(CredentialError::Expired)));
        credentials.revoke(CredentialId(1), CredentialId::ENV_ADMIN, NOW, |_| Ok(Receipt(2))).unwrap();
        assert!(matches!(credentials.verify(&issued.token, NOW), Err(CredentialError::Revoked)));
        let again = credentials.revoke(CredentialId(1), CredentialId::ENV_ADMIN, NOW, |_| panic!("logged twice"));
        assert_eq!(again.unwrap(), Receipt::NONE);
    }

    #[test]
    fn a_forged_secret_or_an_unknown_id_is_invalid() {
        let credentials = Credentials::default();
        let issued = made(&credentials, Role::Shop, &["show"]);
        let forged = format!("{}{}", &issued.token[..issued.token.len() - 2], "AA");
        let unknown = issued.token.replace("gch_t1_", "gch_t2_");
        for token in [forged.as_str(), unknown.as_str(), "gch_t1_short", "Bearer"] {
            assert!(matches!(credentials.verify(token, NOW), Err(CredentialError::Invalid)), "{token}");
        }
    }

    #[test]
    fn each_role_keeps_to_its_scope_rules() {
        assert!(new(Role::Door, &["a"]).check(NOW).is_ok());
        assert!(new(Role::Door, &["a", "b"]).check(NOW).is_err());
        assert!(new(Role::Viewer, &[]).check(NOW).is_err());
        assert!(new(Role::Admin, &["a"]).check(NOW).is_err());
        assert!(new(Role::Promoter, &[]).check(NOW).is_ok());
        assert!(new(Role::Shop, &["a", "a"]).check(NOW).is_err());
        let past = NewCredential { expires_at: Some(NOW), ..new(Role::Admin, &[]) };
        assert!(past.check(NOW).is_err());
    }

    #[test]
    fn a_promoter_owns_the_events_it_creates_and_the_state_survives_a_snapshot() {
        let credentials = Credentials::default();
        made(&credentials, Role::Promoter, &[]);
        made(&credentials, Role::Viewer, &["a"]);
        for id in [CredentialId(1), CredentialId(2), CredentialId::ENV_ADMIN] {
            credentials.apply(&CredentialRecord::EventOwned { id, event: "new".into() }).unwrap();
        }
        assert_eq!(credentials.get(CredentialId(1)).unwrap().events, vec!["new".to_string()]);
        assert_eq!(credentials.get(CredentialId(2)).unwrap().events, vec!["a".to_string()], "only promoters own");
        assert!(Credentials::default().snapshot(|| 9).is_none(), "no credential: no section");
        let (bytes, covered) = credentials.snapshot(|| 9).expect("credentials to keep");
        let restored = Credentials::default();
        restored.restore(&bytes).unwrap();
        assert_eq!((restored.list(), covered), (credentials.list(), 9));
    }

    #[test]
    fn credential_ids_read_back() {
        assert_eq!(CredentialId::parse("t12"), Some(CredentialId(12)));
        for bad in ["12", "t", "t012", "t-1", "t1x", "T1"] {
            assert_eq!(CredentialId::parse(bad), None, "{bad}");
        }
    }
}
