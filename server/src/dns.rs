//! DNS lookups for zone claims (spec section 5.6): the TXT records of `_agentid.<domain>`,
//! through hickory-resolver, against the system's resolvers or one DNS server given by
//! `--dns-server`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use agentid_registry::TxtLookup;
use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

/// How long one lookup may take.
const TIMEOUT: Duration = Duration::from_secs(3);
/// Most TXT strings read from one answer.
const MAX_RECORDS: usize = 32;

/// A hickory resolver answering the registry's TXT lookups.
pub struct Dns(TokioResolver);

impl Dns {
    /// A resolver for `server` (`IP:PORT`), or the system's configuration when `None`; `None`
    /// back for `off`.
    pub fn new(server: Option<&str>) -> Result<Option<Arc<Self>>, String> {
        let builder = match server {
            Some("off") => return Ok(None),
            Some(s) => {
                let addr: SocketAddr = s
                    .parse()
                    .map_err(|_| format!("--dns-server {s}: expected IP:PORT"))?;
                let servers =
                    NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), servers),
                    TokioConnectionProvider::default(),
                )
            }
            None => TokioResolver::builder_tokio()
                .map_err(|e| format!("the system's DNS configuration: {e}"))?,
        };
        let mut builder = builder;
        let opts = builder.options_mut();
        opts.timeout = TIMEOUT;
        opts.attempts = 2;
        // Answers are cached for their TTL, but a zone claim wants the record as it is now.
        opts.cache_size = 0;
        Ok(Some(Arc::new(Self(builder.build()))))
    }
}

impl TxtLookup for Dns {
    fn txt<'a>(
        &'a self,
        name: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<String>, String>> + Send + 'a>>
    {
        Box::pin(async move {
            match self.0.txt_lookup(name).await {
                Ok(found) => Ok(found
                    .iter()
                    .take(MAX_RECORDS)
                    .map(|txt| {
                        txt.txt_data()
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>()
                    })
                    .collect()),
                Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
                Err(e) => Err(e.to_string()),
            }
        })
    }
}
