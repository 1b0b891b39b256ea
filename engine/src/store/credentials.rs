//! The engine's credentials: made and revoked through the log, checked
//! for the gateway, and the trail of staff requests (who asked for what).

use super::Engine;
use crate::commit::{Receipt, SinkError};
use crate::credentials::{CredentialError, CredentialId, Credentials, Issued, NewCredential};
use crate::event::WalRecordRef;
use crate::limits::MAX_STAFF_REQUEST_BYTES;

impl Engine {
    /// The credentials, to check a token or list them.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Makes a credential for `new`, by credential `by`; durable once the receipt is.
    pub fn create_credential(
        &self,
        new: NewCredential,
        by: CredentialId,
    ) -> Result<(Issued, Receipt), CredentialError> {
        let now = self.clock.now();
        new.check(now)?;
        if let Some((index, _)) = new.events.iter().enumerate().find(|(_, id)| !self.events.contains_key(id.as_str())) {
            return Err(CredentialError::BadRequest {
                field: format!("events[{index}]"),
                message: format!("there is no event {:?}", new.events[index]),
            });
        }
        let log = |record: &_| self.log.submit(&WalRecordRef::Credential { record });
        self.credentials.create(new, by, now, &*self.options.entropy, log)
    }

    /// Revokes credential `id`, by credential `by`; revoking it again changes nothing.
    pub fn revoke_credential(&self, id: CredentialId, by: CredentialId) -> Result<Receipt, CredentialError> {
        let log = |record: &_| self.log.submit(&WalRecordRef::Credential { record });
        self.credentials.revoke(id, by, self.clock.now(), log)
    }

    /// Logs that credential `by` asks for `request` (method and path, cut to
    /// `MAX_STAFF_REQUEST_BYTES`), before the change is tried: a change made
    /// follows its request in the log, so it is never durable without it.
    pub fn note_staff_request(&self, by: CredentialId, request: &str) -> Result<Receipt, SinkError> {
        let mut end = request.len().min(MAX_STAFF_REQUEST_BYTES);
        while !request.is_char_boundary(end) {
            end -= 1;
        }
        self.log.submit(&WalRecordRef::StaffRequest { by, at: self.clock.now(), request: &request[..end] })
    }

    /// Cluster mode: logs that `node` starts its term as the primary (its
    /// lease's revision). Its appearance in the replicated log is what
    /// fences the previous primary off.
    pub fn log_term(&self, node: &str, lease_revision: u64) -> Result<Receipt, SinkError> {
        self.log.submit(&WalRecordRef::Term { node, lease_revision, at: self.clock.now() })
    }
}
