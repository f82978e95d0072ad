//! Zones (spec section 5.6): namespaces of agent names owned by platforms, as in DNS. A zone is
//! a name suffix (`acme`, `alice.acme`); its owner, a `did:key`, binds names in it to agents and
//! delegates sub-zones. Every change is a compact JWS (`typ` [`ZONE_OP_TYP`]) signed by the key
//! the rules name, with a `createdAt` close to the registry's clock.

use serde::{Deserialize, Serialize};

use crate::id::{split_did_url, AgentDid, AgentName, DidKey};
use crate::jose::CompactJws;

/// `typ` of a zone operation JWS.
pub const ZONE_OP_TYP: &str = "agentid-zone+jws";
/// Largest zone operation accepted, in bytes.
pub const MAX_ZONE_OP_LEN: usize = 4096;
/// How far a zone operation's `createdAt` may be from the registry's clock, in seconds: an
/// operation is accepted once, within this window (older or newer ones are refused).
pub const ZONE_OP_SKEW_SECS: i64 = 300;
/// The DNS label under which a domain names the owner of its zone: `_agentid.<domain>`, a TXT
/// record `agentid-zone=<did:key>`.
pub const DNS_LABEL: &str = "_agentid";
/// The prefix of the TXT record's value.
pub const DNS_TXT_PREFIX: &str = "agentid-zone=";
/// `typ` of an agent's consent to a name in a zone.
pub const NAME_CONSENT_TYP: &str = "agentid-name-consent+jws";
/// Largest consent accepted, in bytes.
pub const MAX_NAME_CONSENT_LEN: usize = 1024;

/// An agent's consent to be named `name` by the owner of the zone holding it (section 5.6):
/// signed by one of the agent's rotation keys in force, carried in the `bindName` that names
/// it. Without it nobody can name an agent in a zone, and so bring it under the zone owner's
/// moderation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NameConsent {
    /// Always `nameConsent`.
    #[serde(rename = "type")]
    pub kind: ConsentKind,
    /// The name the agent agrees to.
    pub name: AgentName,
    /// The agent.
    pub did: AgentDid,
    /// The zone owner the agent agrees to be named (and moderated) by.
    pub zone_owner: DidKey,
    /// RFC 3339.
    pub created_at: String,
}

/// The payload of a zone operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", deny_unknown_fields)]
pub enum ZoneOperation {
    /// Claims a zone for `owner`, who signs: a top-level zone nobody holds, or a DNS domain
    /// whose `_agentid` TXT record names `owner`.
    #[serde(rename_all = "camelCase")]
    ClaimZone {
        /// The zone.
        zone: AgentName,
        /// Its owner.
        owner: DidKey,
        /// RFC 3339.
        created_at: String,
    },
    /// Delegates a sub-zone of a zone to `owner`; signed by the owner of the zone above it.
    #[serde(rename_all = "camelCase")]
    DelegateZone {
        /// The sub-zone.
        zone: AgentName,
        /// Its owner.
        owner: DidKey,
        /// RFC 3339.
        created_at: String,
    },
    /// Binds `name` to the agent `did`; signed by the owner of the zone `name` is in, with
    /// the agent's consent.
    #[serde(rename_all = "camelCase")]
    BindName {
        /// The name.
        name: AgentName,
        /// The agent.
        did: AgentDid,
        /// The agent's [`NameConsent`] to this name and this zone owner: a compact JWS
        /// (`typ` [`NAME_CONSENT_TYP`]) signed by one of its rotation keys.
        consent: String,
        /// RFC 3339.
        created_at: String,
    },
    /// Removes `name` from the agent it is bound to; signed by the owner of its zone.
    #[serde(rename_all = "camelCase")]
    UnbindName {
        /// The name.
        name: AgentName,
        /// RFC 3339.
        created_at: String,
    },
    /// Suspends the agent bound to `name` for `durationSecs`; signed by the owner of its zone.
    /// The reason travels beside the operation and is bound to it by `reasonHash`.
    #[serde(rename_all = "camelCase")]
    SuspendAgent {
        /// The agent's name in the zone.
        name: AgentName,
        /// One of the suspension reason codes (section 5.4).
        reason_code: String,
        /// base64url SHA-256 of the reason.
        reason_hash: String,
        /// base64url SHA-256 of the evidence, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        evidence_hash: Option<String>,
        /// How long.
        duration_secs: i64,
        /// RFC 3339.
        created_at: String,
    },
    /// Deplatforms the agent bound to `name`; signed by the owner of its zone.
    #[serde(rename_all = "camelCase")]
    DeplatformAgent {
        /// The agent's name in the zone.
        name: AgentName,
        /// base64url SHA-256 of the reason.
        reason_hash: String,
        /// RFC 3339.
        created_at: String,
    },
    /// Reinstates the suspended or deplatformed agent bound to `name`; signed by the owner of
    /// its zone.
    #[serde(rename_all = "camelCase")]
    ReinstateAgent {
        /// The agent's name in the zone.
        name: AgentName,
        /// base64url SHA-256 of the reason.
        reason_hash: String,
        /// RFC 3339.
        created_at: String,
    },
}

impl ZoneOperation {
    /// The `reasonHash` of a moderation decision.
    pub fn reason_hash(&self) -> Option<&str> {
        match self {
            ZoneOperation::SuspendAgent { reason_hash, .. }
            | ZoneOperation::DeplatformAgent { reason_hash, .. }
            | ZoneOperation::ReinstateAgent { reason_hash, .. } => Some(reason_hash),
            _ => None,
        }
    }

    /// The wire `type`, also the log entry's `kind`.
    pub fn kind(&self) -> &'static str {
        match self {
            ZoneOperation::ClaimZone { .. } => "claim-zone",
            ZoneOperation::DelegateZone { .. } => "delegate-zone",
            ZoneOperation::BindName { .. } => "bind-name",
            ZoneOperation::UnbindName { .. } => "unbind-name",
            ZoneOperation::SuspendAgent { .. } => "suspend",
            ZoneOperation::DeplatformAgent { .. } => "deplatform",
            ZoneOperation::ReinstateAgent { .. } => "reinstate",
        }
    }

    /// Its `createdAt`.
    pub fn created_at(&self) -> &str {
        match self {
            ZoneOperation::ClaimZone { created_at, .. }
            | ZoneOperation::DelegateZone { created_at, .. }
            | ZoneOperation::BindName { created_at, .. }
            | ZoneOperation::UnbindName { created_at, .. }
            | ZoneOperation::SuspendAgent { created_at, .. }
            | ZoneOperation::DeplatformAgent { created_at, .. }
            | ZoneOperation::ReinstateAgent { created_at, .. } => created_at,
        }
    }
}

/// The `type` of a [`NameConsent`]: the one kind there is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentKind {
    /// `nameConsent`.
    #[serde(rename = "nameConsent")]
    NameConsent,
}

/// Why a zone operation does not parse or verify.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZoneOpError {
    /// Over [`MAX_ZONE_OP_LEN`].
    #[error(
        "the operation is over {MAX_ZONE_OP_LEN} bytes (a consent over {MAX_NAME_CONSENT_LEN})"
    )]
    TooLarge,
    /// Malformed; the message says how.
    #[error("invalid zone operation: {0}")]
    Invalid(String),
    /// The signature does not verify under the `kid`'s key.
    #[error("the operation's signature does not verify")]
    BadSignature,
}

/// Parses a zone operation and checks its signature under the `did:key` its `kid` names: the
/// operation and its signer. Who may sign what is the registry's rule (section 5.6).
pub fn open(jws: &str) -> Result<(ZoneOperation, DidKey), ZoneOpError> {
    let (op, signer): (ZoneOperation, DidKey) = open_signed(jws, MAX_ZONE_OP_LEN, ZONE_OP_TYP)?;
    parse_time(op.created_at())?;
    Ok((op, signer))
}

/// Parses an agent's [`NameConsent`] and checks its signature under the `did:key` its `kid`
/// names: the consent and its signer. Whether the signer is one of the agent's rotation keys in
/// force is the registry's check, against the agent's history.
pub fn open_consent(jws: &str) -> Result<(NameConsent, DidKey), ZoneOpError> {
    let (consent, signer): (NameConsent, DidKey) =
        open_signed(jws, MAX_NAME_CONSENT_LEN, NAME_CONSENT_TYP)?;
    parse_time(&consent.created_at)?;
    Ok((consent, signer))
}

/// Why an agent's consent does not stand for a binding (section 5.6): each has a stable
/// [`ConsentError::reason`], and the registry answers all of them 403 `consent_invalid`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConsentError {
    /// Not a consent: size, JWS, `typ`, `kid` or payload.
    #[error("is malformed: {0}")]
    Malformed(String),
    /// The signature does not verify under the `kid`'s key.
    #[error("does not verify")]
    BadSignature,
    /// For another name or agent.
    #[error("is for another name or agent")]
    OtherBinding,
    /// Names another zone owner than the one binding the name.
    #[error("names another zone owner")]
    OtherZoneOwner,
    /// Made outside the operations' time window.
    #[error("must be made within {ZONE_OP_SKEW_SECS} s of the registry's clock")]
    OutsideWindow,
    /// Not signed by the agent's highest-priority rotation key in force (the key that alone
    /// may deactivate it: being named in a zone brings the agent under its owner's moderation,
    /// which no lower key may do on a thief's behalf).
    #[error("is not signed by the agent's highest-priority rotation key")]
    NotRotationKey,
    /// Signed by the highest-priority rotation key, which a lower key put there within the
    /// recovery window (`History::settled_top_key`): a stolen lower key may not promote a key
    /// of its own and consent with it before the owner can undo that.
    #[error("is signed by a highest-priority key that a recovery may still undo (72 hours)")]
    NotSettled,
}

impl ConsentError {
    /// The stable reason, as the vectors name it.
    pub fn reason(&self) -> &'static str {
        match self {
            ConsentError::Malformed(_) => "malformed",
            ConsentError::BadSignature => "bad_signature",
            ConsentError::OtherBinding => "other_binding",
            ConsentError::OtherZoneOwner => "other_zone_owner",
            ConsentError::OutsideWindow => "outside_window",
            ConsentError::NotRotationKey => "not_rotation_key",
            ConsentError::NotSettled => "not_settled",
        }
    }
}

/// The binding a consent must be for: the rule of section 5.6, a pure function.
#[derive(Clone, Copy, Debug)]
pub struct ConsentFor<'a> {
    /// The name being bound.
    pub name: &'a AgentName,
    /// The agent it is bound to.
    pub did: &'a AgentDid,
    /// The owner of the zone holding the name, who signs the `bindName`.
    pub zone_owner: &'a DidKey,
    /// The agent's rotation keys in force, highest priority first (from its replayed history).
    pub rotation_keys: &'a [DidKey],
    /// Whether no recovery can still take the first of them from its place
    /// ([`History::settled_top_key`](crate::history::History::settled_top_key)).
    pub top_key_settled: bool,
    /// The registry's clock, Unix seconds.
    pub now: i64,
}

/// Checks that `jws` is the agent's consent to exactly `binding`: well formed, signed by one of
/// its rotation keys in force, for this name, agent and zone owner, within the time window.
pub fn check_consent(jws: &str, binding: &ConsentFor<'_>) -> Result<NameConsent, ConsentError> {
    let (consent, signer) = open_consent(jws).map_err(|e| match e {
        ZoneOpError::BadSignature => ConsentError::BadSignature,
        e => ConsentError::Malformed(e.to_string()),
    })?;
    if consent.name != *binding.name || consent.did != *binding.did {
        return Err(ConsentError::OtherBinding);
    }
    if consent.zone_owner != *binding.zone_owner {
        return Err(ConsentError::OtherZoneOwner);
    }
    let created =
        parse_time(&consent.created_at).map_err(|e| ConsentError::Malformed(e.to_string()))?;
    if created.abs_diff(binding.now) > ZONE_OP_SKEW_SECS.unsigned_abs() {
        return Err(ConsentError::OutsideWindow);
    }
    if binding.rotation_keys.first() != Some(&signer) {
        return Err(ConsentError::NotRotationKey);
    }
    if !binding.top_key_settled {
        return Err(ConsentError::NotSettled);
    }
    Ok(consent)
}

/// The signer of `consent`, if it is `did`'s consent to be named `name` by `owner` (the
/// signer of the `bindName` carrying it): what a logged binding must show, whenever it is read.
pub fn consent_signer(
    consent: &str,
    name: &AgentName,
    did: &AgentDid,
    owner: &DidKey,
) -> Option<DidKey> {
    let (c, by) = open_consent(consent).ok()?;
    (c.name == *name && c.did == *did && c.zone_owner == *owner).then_some(by)
}

fn parse_time(created_at: &str) -> Result<i64, ZoneOpError> {
    crate::time::parse_rfc3339(created_at)
        .ok_or_else(|| ZoneOpError::Invalid("createdAt is not RFC 3339".into()))
}

/// A compact JWS of `typ`, at most `max` bytes, signed by the `did:key` its `kid` names.
fn open_signed<T: serde::de::DeserializeOwned>(
    jws: &str,
    max: usize,
    typ: &'static str,
) -> Result<(T, DidKey), ZoneOpError> {
    if jws.len() > max {
        return Err(ZoneOpError::TooLarge);
    }
    let invalid = |m: String| ZoneOpError::Invalid(m);
    let token = CompactJws::parse(jws, max, typ).map_err(|e| invalid(e.to_string()))?;
    let value: T =
        serde_json::from_slice(&token.payload).map_err(|e| invalid(format!("payload: {e}")))?;
    let kid = token
        .header
        .kid
        .as_deref()
        .ok_or_else(|| invalid("no kid".into()))?;
    let (signer, _) = split_did_url(kid).ok_or_else(|| invalid("kid is not a DID URL".into()))?;
    let signer = DidKey::parse(signer).map_err(|_| invalid("kid is not a did:key".into()))?;
    if kid != signer.key_id() {
        return Err(invalid(
            "kid is not the did:key's verification method".into(),
        ));
    }
    let key = signer
        .verifying_key()
        .map_err(|_| invalid("signer key is invalid".into()))?;
    if !token.verify(&key) {
        return Err(ZoneOpError::BadSignature);
    }
    Ok((value, signer))
}

/// The zones that could hold `name`, longest first: the name itself, then each suffix.
pub fn enclosing(name: &AgentName) -> Vec<String> {
    let s = name.as_str();
    let mut out = vec![s.to_owned()];
    let mut rest = s;
    while let Some((_, parent)) = rest.split_once('.') {
        out.push(parent.to_owned());
        rest = parent;
    }
    out
}

/// Whether `name` is `zone` or below it.
pub fn within(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|head| head.ends_with('.'))
}

/// The owner a DNS TXT record names, if it is an agentid zone record.
pub fn owner_in_txt(record: &str) -> Option<DidKey> {
    DidKey::parse(record.trim().strip_prefix(DNS_TXT_PREFIX)?.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_enclose_names() {
        let n = AgentName::parse("shopper.alice.acme").unwrap();
        assert_eq!(enclosing(&n), ["shopper.alice.acme", "alice.acme", "acme"]);
        assert!(within("shopper.alice.acme", "acme"));
        assert!(within("acme", "acme"));
        assert!(!within("notacme", "acme"));
        assert!(!within("acme", "shop.acme"));
        let key = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
        assert_eq!(
            owner_in_txt(&format!("agentid-zone={key}")).map(|k| k.to_string()),
            Some(key.to_owned())
        );
        assert_eq!(owner_in_txt("v=spf1 -all"), None);
        assert_eq!(owner_in_txt("agentid-zone=did:key:nope"), None);
    }
}
