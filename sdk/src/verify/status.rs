//! Step 18: revocation status, failing closed. Only [`PolicyChecked::check_status`] makes a
//! [`StatusChecked`].

use agentid_resolver::Source;
use agentid_spec::code::{Code, Reason};

use super::policy::PolicyChecked;
use super::signatures::Authenticated;
use super::Verifier;

/// An authenticated presentation whose policy and revocation status were checked, with every
/// failure found.
pub(super) struct StatusChecked {
    authenticated: Authenticated,
    reasons: Vec<Reason>,
}

impl StatusChecked {
    pub(super) fn into_parts(self) -> (Authenticated, Vec<Reason>) {
        (self.authenticated, self.reasons)
    }
}

impl PolicyChecked {
    /// Step 18: the credential's bit in its issuer's status list, from cache within the
    /// verifier's bounds; any doubt is `status_unavailable`.
    pub(super) async fn check_status<S: Source>(self, v: &Verifier<S>, now: i64) -> StatusChecked {
        let (authenticated, mut reasons) = self.into_parts();
        let credential = authenticated.credential();
        match v.status_list(credential, now).await {
            Ok(list) => {
                let index = credential.credential_status.index().unwrap_or(usize::MAX);
                match list.get(index) {
                    Some(false) => {}
                    Some(true) => reasons.push(Reason::new(
                        Code::CredentialRevoked,
                        "credential is revoked",
                    )),
                    None => reasons.push(Reason::new(
                        Code::StatusUnavailable,
                        "status index is past the end of the list",
                    )),
                }
            }
            Err(msg) => reasons.push(Reason::new(Code::StatusUnavailable, msg)),
        }
        StatusChecked {
            authenticated,
            reasons,
        }
    }
}
