//! Zones (spec section 5.6): who may bind names where. A zone is claimed by its owner (a
//! top-level zone nobody holds, or a DNS domain whose `_agentid` TXT record names the owner) or
//! delegated by the owner of the zone above it; inside a zone only its owner binds names to
//! agents and removes them.

use std::future::Future;
use std::pin::Pin;

use agentid_spec::document::DidDocument;
use agentid_spec::history::Rejection;
use agentid_spec::id::{hash_b32, AgentDid, AgentName, DidKey, NAME_URI_PREFIX};
use agentid_spec::log::LogRecord;
use agentid_spec::zone::{
    self, enclosing, ZoneOpError, ZoneOperation, DNS_LABEL, ZONE_OP_SKEW_SECS,
};
use serde_json::json;

use crate::names::{never_a_zone, under_dns_tld, why_reserved};
use crate::{log, Error, Registry};

/// Looks up the TXT records of a DNS name (`agentid-server` answers with hickory-resolver).
pub trait TxtLookup: Send + Sync {
    /// The TXT strings at `name` (each record's character strings joined); an empty list when
    /// there are none.
    fn txt<'a>(
        &'a self,
        name: &'a str,
    ) -> Pin<Box<dyn Future<Output = Result<Vec<String>, String>> + Send + 'a>>;
}

/// A zone as the registry holds it.
pub use agentid_spec::api::Zone;

impl From<ZoneOpError> for Error {
    fn from(e: ZoneOpError) -> Self {
        match e {
            ZoneOpError::TooLarge => Rejection::TooLarge.into(),
            ZoneOpError::BadSignature => Rejection::BadSignature.into(),
            ZoneOpError::Invalid(m) => Rejection::Invalid(m).into(),
            _ => Rejection::Invalid("zone operation".into()).into(),
        }
    }
}

type Tx<'c> = sqlx::Transaction<'c, sqlx::Any>;

/// Most log entries an agent may have for a zone owner to bind, unbind or moderate it.
pub(crate) const MAX_ZONE_ENTRIES: usize = 1000;

/// The name a moderation decision is about, if `op` is one.
fn moderated(op: &ZoneOperation) -> Option<&AgentName> {
    match op {
        ZoneOperation::SuspendAgent { name, .. }
        | ZoneOperation::DeplatformAgent { name, .. }
        | ZoneOperation::ReinstateAgent { name, .. } => Some(name),
        _ => None,
    }
}

/// The zone or name `op` is about: what its log entry is found by.
fn subject(op: &ZoneOperation) -> &str {
    match op {
        ZoneOperation::ClaimZone { zone, .. } | ZoneOperation::DelegateZone { zone, .. } => {
            zone.as_str()
        }
        ZoneOperation::BindName { name, .. }
        | ZoneOperation::UnbindName { name, .. }
        | ZoneOperation::SuspendAgent { name, .. }
        | ZoneOperation::DeplatformAgent { name, .. }
        | ZoneOperation::ReinstateAgent { name, .. } => name.as_str(),
    }
}

/// The zone or name a stored log entry is about, read from the entry itself (for entries
/// stored before the log kept it beside them).
pub(crate) fn entry_subject(e: &agentid_spec::log::LogEntry) -> Option<String> {
    match e.kind.as_str() {
        "create" => agentid_spec::history::History::genesis(&e.operation, e.created_at)
            .ok()
            .and_then(|h| h.entries()[0].state.name.as_ref().map(|n| n.to_string())),
        "release-name" => serde_json::from_str::<serde_json::Value>(&e.operation)
            .ok()
            .and_then(|v| v["name"].as_str().map(str::to_owned)),
        "claim-zone" | "delegate-zone" | "bind-name" | "unbind-name" => zone::open(&e.operation)
            .ok()
            .map(|(op, _)| subject(&op).to_owned()),
        _ => None,
    }
}

/// The name (or zone) a log entry is about, and for a zone claim its owner, read from the
/// entry's contents without checking their signatures (the seal says the service checked them
/// when it wrote the entry): what the registry's index of names is built from.
pub(crate) fn light_subject(e: &agentid_spec::log::LogEntry) -> Option<(String, Option<String>)> {
    let payload = |jws: &str| -> Option<serde_json::Value> {
        let part = jws.split('.').nth(1)?;
        serde_json::from_slice(&agentid_spec::jose::b64u_decode(part)?).ok()
    };
    let name = |v: &serde_json::Value, field: &str| {
        v[field]
            .as_str()
            .and_then(|n| AgentName::parse(n).ok())
            .map(|n| n.to_string())
    };
    match e.kind.as_str() {
        "create" => Some((name(&payload(&e.operation)?, "name")?, None)),
        "release-name" => Some((
            name(&serde_json::from_str(&e.operation).ok()?, "name")?,
            None,
        )),
        "claim-zone" | "delegate-zone" => {
            let v = payload(&e.operation)?;
            Some((name(&v, "zone")?, v["owner"].as_str().map(str::to_owned)))
        }
        "bind-name" | "unbind-name" => Some((name(&payload(&e.operation)?, "name")?, None)),
        _ => None,
    }
}

/// The signed zone operation a log entry applied, if any: the entry's operation for a zone's
/// claim, delegation or binding, the authorization recorded with a zone owner's decision.
pub(crate) fn zone_operation_of(e: &agentid_spec::log::LogEntry) -> Option<String> {
    match e.kind.as_str() {
        "claim-zone" | "delegate-zone" | "bind-name" | "unbind-name" => Some(e.operation.clone()),
        "suspend" | "deplatform" | "reinstate" => {
            let record: serde_json::Value = serde_json::from_str(&e.operation).ok()?;
            record["authorization"].as_str().map(str::to_owned)
        }
        _ => None,
    }
}

/// A zone owner's authority for a moderation decision: the zone, and the signed operation.
pub(crate) struct ZoneAuthority<'a> {
    zone: &'a str,
    operation: &'a str,
}

impl ZoneAuthority<'_> {
    /// Adds the authority (when there is one) to a decision's record.
    pub(crate) fn record(by: Option<&Self>, record: &mut serde_json::Value) {
        if let Some(a) = by {
            record["zone"] = a.zone.into();
            record["authorization"] = a.operation.into();
        }
    }
}

/// Why `zone` cannot be claimed when `z` holds it: claimed already, or inside someone's zone.
fn held(zone: &AgentName, z: &Zone) -> Error {
    if z.zone == zone.as_str() {
        Error::ZoneTaken(zone.to_string())
    } else {
        Error::ZoneOwned(format!(
            "{zone} is in the zone {}: its owner delegates sub-zones",
            z.zone
        ))
    }
}

/// Whether a zone claim is a DNS domain's, proven by DNS: more than one label, or a label that
/// is a DNS top-level domain.
fn dns_zone(zone: &AgentName) -> bool {
    zone.as_str().contains('.') || under_dns_tld(zone)
}

impl Registry {
    /// The zone holding `name` (the longest claimed zone that is `name` or above it), read in
    /// `tx`.
    async fn zone_holding(&self, tx: &mut Tx<'_>, name: &str) -> Result<Option<Zone>, Error> {
        let name = AgentName::parse(name).map_err(|e| Error::Internal(e.to_string()))?;
        // Who holds what, as the log says it (read by the caller before its transaction).
        for candidate in enclosing(&name) {
            let row: Option<(String, String, Option<String>, i64)> = sqlx::query_as(
                "SELECT zone, owner, parent, dns FROM registry_zones WHERE zone = $1",
            )
            .bind(&candidate)
            .fetch_optional(&mut **tx)
            .await?;
            let z = row.map(|(zone, owner, parent, dns)| Zone {
                zone,
                owner,
                parent,
                dns: dns != 0,
            });
            self.zone_proved(tx, &candidate, z.as_ref()).await?;
            if z.is_some() {
                return Ok(z);
            }
        }
        Ok(None)
    }

    /// Checks what the zones table says of `candidate` (`row`) against the log as this process
    /// has read it: the same owner as the zone's first sealed claim (a DNS zone when claimed by
    /// DNS, a delegated one under a zone above it), and no claim in the log for
    /// a zone the table lacks; and no entry of the log without this service's seal. A zone row
    /// rewritten or deleted behind the registry's back is refused and reported.
    async fn zone_proved(
        &self,
        tx: &mut Tx<'_>,
        candidate: &str,
        row: Option<&Zone>,
    ) -> Result<(), Error> {
        let logged = {
            let names = self.0.names.read().unwrap_or_else(|e| e.into_inner());
            if let Some(seq) = names.first_unproven() {
                return Err(self.unproven(
                    &candidate,
                    &format!(
                        "the log holds an entry ({seq}) without this service's seal: names and \
                         zones are given to nobody until an operator accepts the log"
                    ),
                ));
            }
            names.zone_owner(candidate).map(|(o, d)| (o.to_owned(), d))
        };
        let logged = match (row, logged) {
            // A claim committed (by another node) since this process read the log: its sealed
            // entry, read in `tx`.
            (Some(_), None) => self.first_claim_in(tx, candidate).await?,
            (_, logged) => logged,
        };
        match (row, logged) {
            (None, None) => Ok(()),
            (Some(z), Some((owner, delegated)))
                if z.owner == owner
                    && z.parent.is_some() == delegated
                    && z.dns
                        == (!delegated
                            && AgentName::parse(candidate).is_ok_and(|n| dns_zone(&n)))
                    && z.parent
                        .as_deref()
                        .is_none_or(|p| candidate.ends_with(&format!(".{p}"))) =>
            {
                Ok(())
            }
            (Some(z), _) => Err(self.unproven(
                &candidate,
                &format!("the log did not give the zone to {}", z.owner),
            )),
            (None, Some((owner, _))) => Err(self.unproven(
                &candidate,
                &format!("the log gave the zone to {owner}, and its row is gone"),
            )),
        }
    }

    /// The owner of `zone`'s first claim or delegation in the log, read in `tx`, if sealed.
    async fn first_claim_in(
        &self,
        tx: &mut Tx<'_>,
        zone: &str,
    ) -> Result<Option<(String, bool)>, Error> {
        let row: Option<log::SealedRow> = sqlx::query_as(&format!(
            "{} WHERE name = $1 AND kind IN ('claim-zone', 'delegate-zone') ORDER BY seq LIMIT 1",
            log::SELECT_SEALED
        ))
        .bind(zone)
        .fetch_optional(&mut **tx)
        .await?;
        Ok(row.map(log::sealed_entry).and_then(|r| {
            let (name, owner) = light_subject(&r.entry)?;
            (r.holds(&self.0.sealer) && name == zone)
                .then(|| (owner.unwrap_or_default(), r.entry.kind == "delegate-zone"))
        }))
    }

    /// Refuses, in `tx`, a registration of `name` that a zone's owner must bind instead.
    pub(crate) async fn check_unzoned(
        &self,
        tx: &mut Tx<'_>,
        name: &AgentName,
    ) -> Result<(), Error> {
        match self.zone_holding(tx, name.as_str()).await? {
            Some(z) => Err(Error::ZoneOwned(format!(
                "{name} is in the zone {}: its owner binds names there",
                z.zone
            ))),
            None if under_dns_tld(name) => Err(Error::DnsProofRequired(format!(
                "{name} is a DNS name: it is bound in the zone of its domain, which the domain's \
                 owner claims with DNS proof"
            ))),
            None => Ok(()),
        }
    }

    /// A zone, if claimed, as the log gives it: a row the log does not prove is refused
    /// ([`Error::Unproven`], as resolution refuses a forged agent).
    pub async fn zone(&self, zone: &AgentName) -> Result<Option<Zone>, Error> {
        let mut tx = self.0.pool.begin().await?;
        let row: Option<(String, String, Option<String>, i64)> =
            sqlx::query_as("SELECT zone, owner, parent, dns FROM registry_zones WHERE zone = $1")
                .bind(zone.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let z = row.map(|(zone, owner, parent, dns)| Zone {
            zone,
            owner,
            parent,
            dns: dns != 0,
        });
        // Shown only as the log gives it: a row rewritten behind the registry's back is refused.
        self.zone_proved(&mut tx, zone.as_str(), z.as_ref()).await?;
        Ok(z)
    }

    /// The owner the DNS domain `zone` names in its `_agentid` TXT record.
    async fn dns_owner(&self, zone: &AgentName) -> Result<DidKey, Error> {
        let Some(dns) = self.0.dns.get() else {
            return Err(Error::DnsProofFailed(
                "this registry does not look up DNS".into(),
            ));
        };
        let name = format!("{DNS_LABEL}.{zone}.");
        let records = dns
            .txt(&name)
            .await
            .map_err(|e| Error::DnsProofFailed(format!("{name}: {e}")))?;
        let owners: Vec<DidKey> = records
            .iter()
            .filter_map(|r| zone::owner_in_txt(r))
            .collect();
        match owners.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(Error::DnsProofFailed(format!(
                "{name} has no agentid-zone record"
            ))),
            _ => Err(Error::DnsProofFailed(format!(
                "{name} names more than one owner"
            ))),
        }
    }

    /// Applies a signed zone operation (section 5.6): its result. `reason` is the free text
    /// of a moderation decision, which the operation binds by its hash (and which the public
    /// log shows only by that hash); no other operation takes one.
    /// The same operation again, within its window, is a retry: answered with the first answer
    /// and `true`.
    pub async fn zone_operation(
        &self,
        jws: &str,
        reason: Option<&str>,
    ) -> Result<(serde_json::Value, bool), Error> {
        let (op, signer) = zone::open(jws)?;
        match (op.reason_hash(), reason) {
            (Some(hash), Some(r)) => {
                if r.is_empty() || r.len() > crate::MAX_REASON_BYTES || r.contains('\0') {
                    return Err(Error::InvalidOperation(format!(
                        "a reason is 1 to {} bytes, without NUL",
                        crate::MAX_REASON_BYTES
                    )));
                }
                if agentid_spec::log::reason_hash(r) != hash {
                    return Err(Error::InvalidOperation(
                        "the reason is not the one reasonHash names".into(),
                    ));
                }
            }
            (Some(_), None) => {
                return Err(Error::InvalidOperation(
                    "a moderation decision comes with its reason".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(Error::InvalidOperation(
                    "only a moderation decision takes a reason".into(),
                ))
            }
            (None, None) => {}
        }
        let now = self.0.clock.now();
        let created = agentid_spec::time::parse_rfc3339(op.created_at()).unwrap_or_default();
        if created.abs_diff(now) > ZONE_OP_SKEW_SECS.unsigned_abs() {
            return Err(Error::InvalidTime(format!(
                "createdAt must be within {ZONE_OP_SKEW_SECS} s of the registry's clock"
            )));
        }
        // A DNS claim (a zone of more than one label) is proven before anything is written,
        // unless a zone someone owns holds it (then only a delegation applies; checked again
        // in the transaction).
        if let ZoneOperation::ClaimZone { zone, owner, .. } = &op {
            if let Some(why) = why_reserved(zone) {
                return Err(Error::NameReserved(why));
            }
            if never_a_zone(zone) {
                return Err(Error::NameReserved(format!(
                    "{zone} (a DNS top-level domain or public suffix: a zone is a domain \
                     registered under it)"
                )));
            }
            if dns_zone(zone) {
                let mut read = self.0.pool.begin().await?;
                if let Some(z) = self.zone_holding(&mut read, zone.as_str()).await? {
                    return Err(held(zone, &z));
                }
                drop(read);
                if self.dns_owner(zone).await? != *owner {
                    return Err(Error::DnsProofFailed(format!(
                        "the _agentid record of {zone} names another owner"
                    )));
                }
            }
        }
        let hash = hash_b32(jws.as_bytes());
        // Who holds which name and zone, read before the transaction (inside it, no second
        // connection is taken).
        self.catch_up().await?;
        let _turn = self.0.db.write_turn().await;
        let mut tx = self.0.pool.begin().await?;
        // The log's lock (and, on SQLite, the write lock) first: the checks below see every
        // change committed before, and no other append commits until this one does.
        log::lock(&mut tx, &self.0.db).await?;
        sqlx::query("DELETE FROM registry_zone_ops WHERE created_at < $1")
            .bind(now.saturating_sub(2 * ZONE_OP_SKEW_SECS))
            .execute(&mut *tx)
            .await?;
        let fresh = sqlx::query(
            "INSERT INTO registry_zone_ops (hash, created_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        // The log says whether this operation was applied, whatever the table says: a row of
        // it deleted makes no replay fresh.
        let logged = self
            .0
            .names
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .applied_zone_op(&hash, now);
        if fresh.rows_affected() == 1 {
            if let Some(seq) = logged {
                tracing::error!(
                    seq,
                    "a zone operation the log applied has no row of its answer: the table was \
                     altered behind the registry's back; the retry is refused"
                );
                return Err(Rejection::Duplicate.into());
            }
        }
        if fresh.rows_affected() != 1 {
            let first: Option<(Option<String>,)> =
                sqlx::query_as("SELECT answer FROM registry_zone_ops WHERE hash = $1")
                    .bind(&hash)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some(answer) = first.and_then(|(a,)| a) else {
                return Err(Rejection::Duplicate.into());
            };
            let answer: serde_json::Value =
                serde_json::from_str(&answer).map_err(|e| Error::Internal(e.to_string()))?;
            // The first answer only while what it reports still holds.
            if !Self::still_stands(&mut tx, &op, &answer).await? {
                return Err(Error::Superseded(format!(
                    "this {} was applied, and a later operation has undone it: sign a new one",
                    op.kind()
                )));
            }
            return Ok((answer, true));
        }
        if let (Some(name), Some(reason)) = (moderated(&op), reason) {
            let answer = self
                .zone_moderation(tx, &op, name, reason, &signer, jws)
                .await?;
            // The decision has committed; its answer is kept for a retry (were this lost, a
            // retry is refused as a duplicate rather than applied twice).
            sqlx::query("UPDATE registry_zone_ops SET answer = $1 WHERE hash = $2")
                .bind(answer.to_string())
                .bind(&hash)
                .execute(&self.0.pool)
                .await?;
            return Ok((answer, false));
        }
        let (did, result) = self.zone_change(&mut tx, &op, &signer, now).await?;
        let entry = log::append(
            &mut tx,
            &self.0.db,
            &self.0.sealer,
            LogRecord {
                did,
                kind: op.kind().into(),
                operation: jws.to_owned(),
                actor: signer.to_string(),
                reason: None,
                created_at: now,
            },
            Some(subject(&op)),
        )
        .await?;
        log::notify(&mut tx, &self.0.db, "registry").await?;
        let mut result = result;
        result["logSeq"] = entry.seq.into();
        sqlx::query("UPDATE registry_zone_ops SET answer = $1 WHERE hash = $2")
            .bind(result.to_string())
            .bind(&hash)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.read_own_append().await;
        self.changed();
        tracing::info!(kind = op.kind(), signer = %signer, "zone operation");
        Ok((result, false))
    }

    /// A zone owner's moderation decision on the agent bound to `name`, in `tx` (which it
    /// commits): the same decision an operator makes (section 5.4), recorded with the zone and
    /// the signed operation that authorised it, the signer as actor.
    async fn zone_moderation(
        &self,
        mut tx: Tx<'_>,
        op: &ZoneOperation,
        name: &AgentName,
        reason: &str,
        signer: &DidKey,
        jws: &str,
    ) -> Result<serde_json::Value, Error> {
        let z = self
            .zone_holding(&mut tx, name.as_str())
            .await?
            .ok_or_else(|| Error::InvalidOperation(format!("no zone holds {name}")))?;
        if signer.as_str() != z.owner {
            return Err(
                Rejection::KeyNotAuthorized("only the zone's owner moderates in it").into(),
            );
        }
        let bound: Option<(String,)> =
            sqlx::query_as("SELECT did FROM registry_agents WHERE name = $1")
                .bind(name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let (did,) = bound.ok_or_else(|| Error::NotRegistered(name.to_string()))?;
        let did = AgentDid::parse(&did).map_err(|e| Error::Internal(e.to_string()))?;
        self.check_zone_entries(&did)?;
        // A zone's owner moderates only the agents that agreed to be named by it.
        if !self.consented_to(&mut tx, &did, name, &z.owner).await? {
            return Err(Rejection::KeyNotAuthorized(
                "the agent did not consent to be named in this zone by its owner",
            )
            .into());
        }
        // Due process: while another moderator's decision stands (an operator's, or another
        // zone owner's before a delegation), only they change or lift it.
        let standing: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT a.status, (SELECT l.actor FROM registry_log l WHERE l.did = a.did \
             AND l.kind IN ('suspend', 'deplatform', 'reinstate') ORDER BY l.seq DESC LIMIT 1) \
             FROM registry_agents a WHERE a.did = $1",
        )
        .bind(did.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((status, Some(decided_by))) = standing {
            if status != "active" && decided_by != signer.as_str() {
                return Err(Rejection::KeyNotAuthorized(
                    "another moderator's decision stands: only they change or lift it",
                )
                .into());
            }
        }
        let authority = ZoneAuthority {
            zone: &z.zone,
            operation: jws,
        };
        let actor = signer.to_string();
        match op {
            ZoneOperation::SuspendAgent {
                reason_code,
                evidence_hash,
                duration_secs,
                ..
            } => {
                let decision = crate::Suspend {
                    reason_code,
                    reason,
                    evidence_hash: evidence_hash.as_deref(),
                    secs: *duration_secs,
                };
                self.suspend_in(tx, &did, &decision, &actor, Some(&authority))
                    .await
            }
            ZoneOperation::DeplatformAgent { .. } => {
                self.deplatform_in(tx, &did, reason, &actor, Some(&authority))
                    .await
            }
            _ => {
                self.reinstate_in(tx, &did, reason, &actor, Some(&authority))
                    .await
            }
        }
    }

    /// The checks and writes of one zone operation, in `tx`: the log entry's DID and the answer.
    async fn zone_change(
        &self,
        tx: &mut Tx<'_>,
        op: &ZoneOperation,
        signer: &DidKey,
        now: i64,
    ) -> Result<(String, serde_json::Value), Error> {
        let not_owner = |z: &Zone| {
            Error::Rejected(Rejection::KeyNotAuthorized(if z.dns {
                "only the zone's owner signs in it (a DNS zone's owner is named by its _agentid record)"
            } else {
                "only the zone's owner signs in it"
            }))
        };
        match op {
            ZoneOperation::ClaimZone { zone, owner, .. } => {
                if signer != owner {
                    return Err(
                        Rejection::KeyNotAuthorized("a zone is claimed by its owner").into(),
                    );
                }
                if let Some(why) = why_reserved(zone) {
                    return Err(Error::NameReserved(why));
                }
                if let Some(z) = self.zone_holding(tx, zone.as_str()).await? {
                    return Err(held(zone, &z));
                }
                if let Some(name) = self.name_under(tx, zone).await? {
                    return Err(Error::ZoneOccupied(format!(
                        "{name} is already registered under {zone}"
                    )));
                }
                self.insert_zone(tx, zone, owner, None, dns_zone(zone), now)
                    .await?;
                Ok((
                    owner.to_string(),
                    json!({ "zone": zone, "owner": owner, "dns": dns_zone(zone) }),
                ))
            }
            ZoneOperation::DelegateZone { zone, owner, .. } => {
                if let Some(why) = why_reserved(zone) {
                    return Err(Error::NameReserved(why));
                }
                let (_, parent) = zone.as_str().split_once('.').ok_or_else(|| {
                    Error::InvalidOperation("a top-level zone is claimed, not delegated".into())
                })?;
                let above = self.zone_holding(tx, parent).await?.ok_or_else(|| {
                    Error::InvalidOperation(format!("no zone holds {parent}: claim {zone} instead"))
                })?;
                if signer.as_str() != above.owner {
                    return Err(not_owner(&above));
                }
                if self.zone_exists(tx, zone.as_str()).await? {
                    return Err(Error::ZoneTaken(zone.to_string()));
                }
                // The agents named there consented to the owner above, not to a new one.
                if let Some(name) = self.name_under(tx, zone).await? {
                    return Err(Error::ZoneOccupied(format!(
                        "{name} is bound under {zone}: unbind the names there before delegating it"
                    )));
                }
                self.insert_zone(tx, zone, owner, Some(&above.zone), false, now)
                    .await?;
                Ok((
                    owner.to_string(),
                    json!({ "zone": zone, "owner": owner, "parent": above.zone }),
                ))
            }
            ZoneOperation::BindName {
                name, did, consent, ..
            } => {
                if let Some(why) = why_reserved(name) {
                    return Err(Error::NameReserved(why));
                }
                let z = self.zone_holding(tx, name.as_str()).await?.ok_or_else(|| {
                    Error::InvalidOperation(format!(
                        "no zone holds {name}: a name outside zones is claimed at registration"
                    ))
                })?;
                if signer.as_str() != z.owner {
                    return Err(not_owner(&z));
                }
                self.check_zone_entries(did)?;
                self.check_consent(tx, consent, name, did, signer, now)
                    .await?;
                self.rename(tx, did, Some(name), now).await?;
                Ok((
                    did.to_string(),
                    json!({ "name": name, "did": did, "zone": z.zone }),
                ))
            }
            ZoneOperation::SuspendAgent { .. }
            | ZoneOperation::DeplatformAgent { .. }
            | ZoneOperation::ReinstateAgent { .. } => Err(Error::InvalidOperation(
                "a moderation decision comes with its reason".into(),
            )),
            ZoneOperation::UnbindName { name, .. } => {
                let z = self
                    .zone_holding(tx, name.as_str())
                    .await?
                    .ok_or_else(|| Error::InvalidOperation(format!("no zone holds {name}")))?;
                if signer.as_str() != z.owner {
                    return Err(not_owner(&z));
                }
                let bound: Option<(String,)> =
                    sqlx::query_as("SELECT did FROM registry_agents WHERE name = $1")
                        .bind(name.as_str())
                        .fetch_optional(&mut **tx)
                        .await?;
                let (did,) = bound.ok_or_else(|| Error::NotRegistered(name.to_string()))?;
                let did = AgentDid::parse(&did).map_err(|e| Error::Internal(e.to_string()))?;
                self.check_zone_entries(&did)?;
                // The agent's log, not its row, says the name is bound to it, by this owner.
                let proved = self.proved_in(tx, &did).await?;
                let bound_here = proved.as_ref().is_some_and(|p| {
                    p.name.as_ref() == Some(name) && p.bound_by.as_ref() == Some(signer)
                });
                if !bound_here {
                    return Err(self.unproven(
                        name,
                        &format!("its row names {did}, and the log does not bind it there"),
                    ));
                }
                self.rename(tx, &did, None, now).await?;
                Ok((
                    did.to_string(),
                    json!({ "name": name, "did": did, "zone": z.zone, "unbound": true }),
                ))
            }
        }
    }

    /// Whether the effect `answer` reports of `op` (accepted before) still holds, read in `tx`.
    async fn still_stands(
        tx: &mut Tx<'_>,
        op: &ZoneOperation,
        answer: &serde_json::Value,
    ) -> Result<bool, Error> {
        let name_of = |did: &str| {
            sqlx::query_as::<_, (Option<String>,)>(
                "SELECT name FROM registry_agents WHERE did = $1",
            )
            .bind(did.to_owned())
        };
        Ok(match op {
            ZoneOperation::ClaimZone { zone, owner, .. }
            | ZoneOperation::DelegateZone { zone, owner, .. } => {
                let row: Option<(String,)> =
                    sqlx::query_as("SELECT owner FROM registry_zones WHERE zone = $1")
                        .bind(zone.as_str())
                        .fetch_optional(&mut **tx)
                        .await?;
                row.is_some_and(|(o,)| o == owner.as_str())
            }
            ZoneOperation::BindName { name, did, .. } => {
                let row = name_of(did.as_str()).fetch_optional(&mut **tx).await?;
                row.is_some_and(|(n,)| n.as_deref() == Some(name.as_str()))
            }
            ZoneOperation::UnbindName { name, .. } => {
                let did = answer["did"].as_str().unwrap_or_default();
                let row = name_of(did).fetch_optional(&mut **tx).await?;
                row.is_some_and(|(n,)| n.as_deref() != Some(name.as_str()))
            }
            ZoneOperation::SuspendAgent { .. }
            | ZoneOperation::DeplatformAgent { .. }
            | ZoneOperation::ReinstateAgent { .. } => {
                // The decision is the agent's latest.
                let latest: Option<(i64,)> = sqlx::query_as(
                    "SELECT seq FROM registry_log WHERE did = $1 \
                     AND kind IN ('suspend', 'deplatform', 'reinstate') ORDER BY seq DESC LIMIT 1",
                )
                .bind(answer["did"].as_str().unwrap_or_default())
                .fetch_optional(&mut **tx)
                .await?;
                latest.is_some_and(|(seq,)| Some(seq) == answer["logSeq"].as_i64())
            }
        })
    }

    /// A name bound to an agent at or below `zone`, if any: in the agents' rows (read in `tx`)
    /// or in the log as this process has read it (a row cleared behind the registry's back
    /// does not free a name).
    async fn name_under(&self, tx: &mut Tx<'_>, zone: &AgentName) -> Result<Option<String>, Error> {
        let held: Option<(String,)> = sqlx::query_as(
            "SELECT name FROM registry_agents WHERE name = $1 OR name LIKE $2 LIMIT 1",
        )
        .bind(zone.as_str())
        .bind(format!("%.{zone}"))
        .fetch_optional(&mut **tx)
        .await?;
        if let Some((n,)) = held {
            return Ok(Some(n));
        }
        let names = self.0.names.read().unwrap_or_else(|e| e.into_inner());
        Ok(names.held_under(zone.as_str()))
    }

    /// Checks, in `tx`, that `consent` is `did`'s consent to be named `name` by `owner`: signed
    /// by one of the rotation keys its history (replayed from the log, not its stored row) has
    /// in force, for this name, agent and zone owner, and made within the operations' window.
    async fn check_consent(
        &self,
        tx: &mut Tx<'_>,
        consent: &str,
        name: &AgentName,
        did: &AgentDid,
        owner: &DidKey,
        now: i64,
    ) -> Result<(), Error> {
        let history = Self::history_in(tx, did).await?;
        let binding = zone::ConsentFor {
            name,
            did,
            zone_owner: owner,
            rotation_keys: &history.state().rotation_keys,
            top_key_settled: history.settled_top_key(now).is_some(),
            now,
        };
        zone::check_consent(consent, &binding)
            .map_err(|e| Error::ConsentInvalid(format!("the agent's consent {e}")))?;
        Ok(())
    }

    /// Refuses another zone owner's entry on `did` once it has [`MAX_ZONE_ENTRIES`] log entries:
    /// bindings and decisions cycled without end would otherwise grow its log past what a
    /// resolution reads. The root operator's decisions are not limited.
    fn check_zone_entries(&self, did: &AgentDid) -> Result<(), Error> {
        let names = self.0.names.read().unwrap_or_else(|e| e.into_inner());
        if names.entries_of(did.as_str()).len() >= MAX_ZONE_ENTRIES {
            return Err(Rejection::TooManyOperations.into());
        }
        Ok(())
    }

    /// Whether the agent's current name, as its log proves it (every entry sealed, the
    /// binding's consent signed by one of its rotation keys), was bound by `owner`: the zone
    /// owner it consented to (bindings made before consent existed carry none, and no zone
    /// owner moderates those agents).
    async fn consented_to(
        &self,
        tx: &mut Tx<'_>,
        did: &AgentDid,
        name: &AgentName,
        owner: &str,
    ) -> Result<bool, Error> {
        let Some(proved) = self.proved_in(tx, did).await? else {
            return Ok(false);
        };
        Ok(proved.name.as_ref() == Some(name)
            && proved
                .bound_by
                .as_ref()
                .is_some_and(|b| b.as_str() == owner))
    }

    async fn zone_exists(&self, tx: &mut Tx<'_>, zone: &str) -> Result<bool, Error> {
        let row: Option<(String,)> =
            sqlx::query_as("SELECT zone FROM registry_zones WHERE zone = $1")
                .bind(zone)
                .fetch_optional(&mut **tx)
                .await?;
        Ok(row.is_some())
    }

    async fn insert_zone(
        &self,
        tx: &mut Tx<'_>,
        zone: &AgentName,
        owner: &DidKey,
        parent: Option<&str>,
        dns: bool,
        now: i64,
    ) -> Result<(), Error> {
        sqlx::query(
            "INSERT INTO registry_zones (zone, owner, parent, dns, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(zone.as_str())
        .bind(owner.as_str())
        .bind(parent)
        .bind(i64::from(dns))
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(|e| match e.as_database_error().is_some_and(|d| d.is_unique_violation()) {
            true => Error::ZoneTaken(zone.to_string()),
            false => e.into(),
        })?;
        Ok(())
    }

    /// Binds `name` to `did` (which must have none), or removes its name (`None`), in its row
    /// and its document's `alsoKnownAs`.
    async fn rename(
        &self,
        tx: &mut Tx<'_>,
        did: &AgentDid,
        name: Option<&AgentName>,
        now: i64,
    ) -> Result<(), Error> {
        let row: Option<(Option<String>, String, String)> =
            sqlx::query_as("SELECT name, status, document FROM registry_agents WHERE did = $1")
                .bind(did.as_str())
                .fetch_optional(&mut **tx)
                .await?;
        let (old, status, document) = row.ok_or_else(|| Error::NotRegistered(did.to_string()))?;
        match status.as_str() {
            "deactivated" => return Err(Error::Deactivated(did.to_string())),
            "deplatformed" if name.is_some() => return Err(Error::Deplatformed(did.to_string())),
            _ => {}
        }
        if name.is_some() && old.is_some() {
            return Err(Error::InvalidOperation(format!(
                "{did} already has a name: unbind it first"
            )));
        }
        let mut document: DidDocument = serde_json::from_str(&document)
            .map_err(|e| Error::Internal(format!("stored document: {e}")))?;
        document
            .also_known_as
            .retain(|a| !a.starts_with(NAME_URI_PREFIX));
        if let Some(n) = name {
            document.also_known_as.push(n.to_uri());
        }
        let document =
            serde_json::to_string(&document).map_err(|e| Error::Internal(e.to_string()))?;
        let done = sqlx::query(
            "UPDATE registry_agents SET name = $1, document = $2, updated_at = $3 WHERE did = $4",
        )
        .bind(name.map(AgentName::as_str))
        .bind(&document)
        .bind(now)
        .bind(did.as_str())
        .execute(&mut **tx)
        .await;
        match done {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_database_error()
                    .is_some_and(|d| d.is_unique_violation()) =>
            {
                Err(Error::NameTaken(
                    name.map(ToString::to_string).unwrap_or_default(),
                ))
            }
            Err(e) => Err(e.into()),
        }
    }
}
