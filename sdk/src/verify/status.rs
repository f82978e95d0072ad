//! Step 18: revocation status, failing closed. Only [`PolicyChecked::check_status`] makes a
//! [`StatusChecked`].

use agentid_resolver::Source;
use agentid_spec::code::{Code, Reason};

use super::policy::PolicyChecked;
use super::signatures::Authenticated;
use super::{NonceStore, Verifier};

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

    /// Step 19: the wallet's spend authorization (its signature held at step 8) is for this
    /// very checkout (agent, principal, delegation bytes, merchant, nonce, transaction) and
    /// within its validity window. Required unless `required` is false (a spend request to the
    /// wallet, which is how an authorization is obtained).
    pub(super) fn check_authorization(mut self, required: bool, skew: i64, now: i64) -> Self {
        let a = &self.authenticated;
        let (p, c, principal) = (a.presentation(), a.credential(), a.principal());
        match a.authorization() {
            None if required => self.reasons.push(Reason::new(
                Code::AuthorizationMissing,
                "no spend authorization from the principal's wallet",
            )),
            None => {}
            Some(auth) => {
                let s = &auth.payload.credential_subject;
                let differs = [
                    (s.id != p.holder, "agent"),
                    (s.principal != *principal, "principal"),
                    (s.delegation != c.id, "delegation"),
                    (
                        *s.delegation_hash != *auth.delegation_hash,
                        "delegation bytes",
                    ),
                    (s.merchant != p.aud, "merchant"),
                    (s.nonce != p.nonce, "nonce"),
                    (s.transaction != p.transaction, "transaction"),
                ];
                let what: Vec<&str> = differs.iter().filter(|d| d.0).map(|d| d.1).collect();
                if !what.is_empty() {
                    self.reasons.push(Reason::new(
                        Code::AuthorizationMismatch,
                        format!("authorization is for another {}", what.join(", ")),
                    ));
                }
                if now > auth.valid_until.saturating_add(skew)
                    || now.saturating_add(skew) < auth.valid_from
                {
                    self.reasons.push(Reason::new(
                        Code::AuthorizationExpired,
                        format!(
                            "authorization is valid from {} until {}",
                            auth.payload.valid_from, auth.payload.valid_until
                        ),
                    ));
                }
            }
        }
        self
    }
}

impl PolicyChecked {
    /// Step 18: the bit of every credential of the chain in the principal's status list (a
    /// sub-delegation's status lives with the principal's wallet, so revoking any link stops
    /// everything below it), from cache within the verifier's bounds; any doubt is
    /// `status_unavailable`.
    pub(super) async fn check_status<S: Source, N: NonceStore>(
        self,
        v: &Verifier<S, N>,
        now: i64,
    ) -> StatusChecked {
        let (authenticated, mut reasons) = self.into_parts();
        let principal = authenticated.principal();
        let single = authenticated.chain_len() == 1;
        let mut last: Option<(
            &str,
            Result<std::sync::Arc<super::fetch::VerifiedList>, String>,
        )> = None;
        for (i, credential) in authenticated.chain().enumerate() {
            let which = if single {
                "credential".to_owned()
            } else {
                format!("credential {i}")
            };
            let url = credential.credential_status.status_list_credential.as_str();
            // The links of a chain usually share the principal's list: fetched once per check.
            let verified = match &last {
                Some((u, list)) if *u == url => list.clone(),
                _ => v.status_list(url, principal, now).await,
            };
            last = Some((url, verified.clone()));
            match verified
                .as_deref()
                .map_err(Clone::clone)
                .and_then(|l| l.bits_at(now, v.limits.clock_skew_secs))
            {
                Ok(list) => {
                    let index = credential.credential_status.index().unwrap_or(usize::MAX);
                    match list.get(index) {
                        Some(false) => {}
                        Some(true) => reasons.push(Reason::new(
                            Code::CredentialRevoked,
                            format!("{which} is revoked"),
                        )),
                        None => reasons.push(Reason::new(
                            Code::StatusUnavailable,
                            format!("{which}: status index is past the end of the list"),
                        )),
                    }
                }
                Err(msg) => reasons.push(Reason::new(Code::StatusUnavailable, msg)),
            }
        }
        StatusChecked {
            authenticated,
            reasons,
        }
    }
}
