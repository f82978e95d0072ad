//! The service's recorded settings: what every node on one database must agree on, written by
//! the first node to start on it and checked by every later start. The root operator's token
//! (its keyed hash, so every node accepts the one token and none mints its own), the public URL
//! (which every credential, status list URL and the wallet's `did:web` name), and a check value
//! of the master key (so a wrong or missing key is refused before anything is sealed under it).

use sqlx::AnyPool;

/// The settings table, in the service's migration range (3000-3999).
pub const MIGRATIONS: &[(i64, &str, &str)] = &[(
    3003,
    "settings",
    include_str!("../migrations/0003_settings.sql"),
)];

/// The root operator's token, in the keyed form of [`agentid_store::tokens`].
pub const ROOT_TOKEN_HASH: &str = "root_token_hash";
/// The public URL, without a trailing `/`.
pub const PUBLIC_URL: &str = "public_url";
/// [`master_key_check`] of the master key.
pub const MASTER_KEY_CHECK: &str = "master_key_check";

/// The value recorded under `name`, if any.
pub async fn get(pool: &AnyPool, name: &str) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT value FROM service_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(v,)| v))
}

/// Records each `(name, value)` not recorded yet, in one transaction (another node starting at
/// the same time may have recorded some first: theirs stay); then the values recorded, in the
/// same order.
pub async fn record(pool: &AnyPool, values: &[(&str, &str)]) -> Result<Vec<String>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    for (name, value) in values {
        sqlx::query(
            "INSERT INTO service_settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(*name)
        .bind(*value)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    let mut recorded = Vec::with_capacity(values.len());
    for (name, value) in values {
        recorded.push(
            get(pool, name)
                .await?
                .unwrap_or_else(|| (*value).to_owned()),
        );
    }
    Ok(recorded)
}

/// Replaces the value recorded under `name` (an operator's explicit change).
pub async fn replace(pool: &AnyPool, name: &str, value: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE service_settings SET value = $1 WHERE name = $2")
        .bind(value)
        .bind(name)
        .execute(pool)
        .await?;
    Ok(())
}

/// Replaces the value recorded under `name` with `value` if it is still `was`; whether it was.
pub async fn replace_if(
    pool: &AnyPool,
    name: &str,
    was: &str,
    value: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE service_settings SET value = $1 WHERE name = $2 AND value = $3")
        .bind(value)
        .bind(name)
        .bind(was)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A value that tells master keys apart without revealing one: SHA-256 over a label and the
/// key's bytes, base64url (`None`: not base64url).
pub fn master_key_check(master_b64u: &str) -> Option<String> {
    use sha2::{Digest, Sha256};
    let raw = zeroize::Zeroizing::new(agentid_spec::jose::b64u_decode(master_b64u.trim())?);
    let mut h = Sha256::new();
    h.update(b"agentid master key check\0");
    h.update(raw.as_slice());
    Some(agentid_spec::jose::b64u(&h.finalize()))
}
