//! `CredentialRecord`, every change to the credentials as plain data, and
//! `apply`, the one function that makes it: live (under the credentials'
//! lock, right after the record is logged) and on replay alike.

use serde::{Deserialize, Serialize};

use super::{Credential, CredentialId, CredentialState, Role};
use crate::commit::ApplyError;
use crate::limits::{MAX_CREDENTIALS, MAX_EVENTS};
use crate::time::UnixTimeMs;

/// A change to the credentials. Kept in the log: new kinds go at the end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredentialRecord {
    /// A credential made (its secret's SHA-256 only).
    Created { credential: Credential },
    /// A credential revoked by `by`.
    Revoked { id: CredentialId, at: UnixTimeMs, by: CredentialId },
    /// A promoter created `event`: it joins the promoter's scope. Carried by
    /// the event's creation record, not logged on its own.
    EventOwned { id: CredentialId, event: String },
}

impl CredentialState {
    /// Applies `record`, checked against the state before anything changes,
    /// so a record that does not fit is refused whole.
    pub(crate) fn apply(&mut self, record: &CredentialRecord) -> Result<(), ApplyError> {
        match record {
            CredentialRecord::Created { credential } => self.add(credential),
            CredentialRecord::Revoked { id, at, .. } => {
                let found = self.credentials.get_mut(id).ok_or_else(|| unknown(*id))?;
                found.revoked_at.get_or_insert(*at);
                Ok(())
            }
            // Only a promoter gains the event (the environment's admin, `t0`,
            // is not stored, and other roles see every event or none).
            CredentialRecord::EventOwned { id, event } => {
                let promoter = self.credentials.get_mut(id).filter(|found| found.role == Role::Promoter);
                if let Some(found) = promoter.filter(|f| !f.events.contains(event) && f.events.len() < MAX_EVENTS) {
                    found.events.push(event.clone());
                }
                Ok(())
            }
        }
    }

    fn add(&mut self, credential: &Credential) -> Result<(), ApplyError> {
        if credential.id != self.next_id() {
            return Err(ApplyError(format!("credential {} out of order (expected {})", credential.id, self.next_id())));
        }
        if self.credentials.len() >= MAX_CREDENTIALS {
            return Err(ApplyError(format!("more than {MAX_CREDENTIALS} credentials")));
        }
        self.credentials.insert(credential.id, credential.clone());
        Ok(())
    }
}

fn unknown(id: CredentialId) -> ApplyError {
    ApplyError(format!("names credential {id}, which was never created"))
}
