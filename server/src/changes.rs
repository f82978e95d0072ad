//! The change feed across nodes (spec section 9.4). On PostgreSQL every change a verifier may
//! have cached is announced with `NOTIFY` in the transaction that makes it; each `agentid serve`
//! process listens, and on every notification moves its registry's and wallet's generations, so
//! its verifier, its resolution cache and its signed status lists drop what they hold. Changes
//! travel through the database, not timers. When the listening connection drops, the process
//! moves the generations anyway (a notification may have been missed) and reconnects.

use std::time::Duration;

use agentid_registry::Registry;
use agentid_wallet::Wallet;
use sqlx::postgres::PgListener;

/// Starts listening on `database_url` (PostgreSQL) and spawns the task that applies what it
/// hears. Returns once the listener is subscribed, so no change committed after start is missed.
pub async fn listen(
    database_url: &str,
    registry: Registry,
    wallet: Wallet,
) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(agentid_spec::CHANGE_FEED_CHANNEL).await?;
    tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) if n.payload() == "log" => {
                    // The log grew (a registration): nothing cached changed.
                    registry.appended_elsewhere();
                    continue;
                }
                Ok(Some(n)) => {
                    tracing::debug!(payload = n.payload(), "change feed");
                }
                Ok(None) => {
                    tracing::warn!("change feed connection lost; reconnecting");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "change feed failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            // Whatever was heard (or may have been missed) invalidates both, once the log's
            // new entries (another node's decisions) are read here.
            if let Err(e) = registry.read_appended().await {
                tracing::error!(error = %e, "reading the log after a change elsewhere");
            }
            registry.changed_elsewhere();
            wallet.changed_elsewhere();
            // A key rotated or retired on another node: sign with the newest unretired key.
            if let Err(e) = wallet.reload_signing_key().await {
                tracing::warn!(error = %e, "reloading the wallet's signing key failed");
            }
        }
    });
    Ok(())
}
