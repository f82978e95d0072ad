//! Which names can be had, and how (spec sections 5.1 and 5.6): reserved names nobody has; names
//! under a DNS top-level domain only inside a zone proven by DNS; public suffixes never; the
//! rest first come.
//!
//! DNS knowledge comes from the Public Suffix List (`registry/data/public_suffix_list.dat`, its
//! provenance in `registry/data/README.md`), read by the `publicsuffix` crate once per process.

use std::sync::LazyLock;

use agentid_spec::id::AgentName;
use publicsuffix::{List, Psl};

/// Names nobody may register or claim (spec 5.1): a name is reserved when its last label, the
/// top of its hierarchy, is one of these. The special-use names of RFC 6761, RFC 2606, RFC 6762,
/// RFC 7686 and RFC 9476; names private networks use as if they were top-level domains; names
/// that would pass for the service, its operators or the infrastructure of the Internet; and
/// the brands a payment agent would be expected to impersonate first (card networks, payment
/// processors, the largest agent platforms and marketplaces). A brand that is a DNS top-level
/// domain as well (`amazon`, `google`, ...) is held by the DNS rule already, and listed anyway.
pub const RESERVED_NAMES: &[&str] = &[
    // Special use.
    "localhost",
    "invalid",
    "test",
    "example",
    "local",
    "onion",
    "alt",
    "arpa",
    // Private networks' pseudo top-level domains.
    "internal",
    "intranet",
    "private",
    "corp",
    "home",
    "lan",
    "localdomain",
    "domain",
    // The service and its operators.
    "agentid",
    "admin",
    "administrator",
    "root",
    "system",
    "registry",
    "wallet",
    "resolver",
    "operator",
    "moderator",
    "support",
    "security",
    "abuse",
    "postmaster",
    "hostmaster",
    "webmaster",
    "www",
    "api",
    "well-known",
    // Infrastructure.
    "dns",
    "ns",
    "mail",
    "smtp",
    "http",
    "https",
    "ftp",
    "did",
    "iana",
    "icann",
    "ietf",
    "w3c",
    // Payment networks and processors.
    "visa",
    "mastercard",
    "amex",
    "americanexpress",
    "discover",
    "unionpay",
    "paypal",
    "venmo",
    "stripe",
    "square",
    "adyen",
    "klarna",
    "affirm",
    "alipay",
    "wechat",
    "wechatpay",
    "applepay",
    "googlepay",
    // Agent platforms and marketplaces.
    "openai",
    "anthropic",
    "google",
    "apple",
    "microsoft",
    "amazon",
    "meta",
    "facebook",
    "shopify",
    "ebay",
    "walmart",
    "etsy",
];

/// The Public Suffix List, parsed once.
static LIST: LazyLock<List> = LazyLock::new(|| {
    // The list is a file of this repository, checked by the test below: parsing cannot fail.
    include_str!("../data/public_suffix_list.dat")
        .parse()
        .expect("the bundled Public Suffix List parses")
});

/// The top-level domains the list names only through a wildcard (`*.ck`, `*.er`, ...): not a
/// rule of their own, top-level domains all the same.
static WILDCARD_TLDS: LazyLock<std::collections::HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/public_suffix_list.dat")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("*."))
        .filter(|rule| !rule.contains('.'))
        .collect()
});

/// Whether `name` is reserved: its last label is in [`RESERVED_NAMES`].
pub fn reserved(name: &AgentName) -> bool {
    RESERVED_NAMES.contains(&top_label(name))
}

/// Whether `name` sits under a DNS top-level domain: its last label is the last label of a rule
/// of the Public Suffix List (`com`, `io`, `shop`, `uk`, ...). Such a name is a DNS name, had
/// only inside a zone whose owner proved the domain by DNS, never first come.
pub fn under_dns_tld(name: &AgentName) -> bool {
    let top = top_label(name);
    // The list's rules in Unicode are matched in their ASCII form too (`xn--p1ai` for `рф`).
    LIST.suffix(top.as_bytes()).is_some_and(|s| s.is_known())
        || LIST
            .suffix(name.as_str().as_bytes())
            .is_some_and(|s| s.is_known())
        || WILDCARD_TLDS.contains(top)
}

/// Whether `zone` can never be a zone: a public suffix, or a DNS top-level domain itself.
pub fn never_a_zone(zone: &AgentName) -> bool {
    is_public_suffix(zone) || (!zone.as_str().contains('.') && under_dns_tld(zone))
}

/// Whether `name` is itself a public suffix (`com`, `co.uk`, `github.io`): a place where
/// unrelated parties register domains, so never one party's zone.
pub fn is_public_suffix(name: &AgentName) -> bool {
    let name = name.as_str().as_bytes();
    LIST.suffix(name)
        .is_some_and(|s| s.is_known() && s.as_bytes() == name)
}

fn top_label(name: &AgentName) -> &str {
    name.as_str().rsplit('.').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> AgentName {
        AgentName::parse(s).unwrap()
    }

    #[test]
    fn reserved_names_are_by_their_top_label() {
        let r = |s: &str| reserved(&n(s));
        assert!(r("admin"));
        assert!(r("support.agentid"));
        assert!(r("Shop.Example"), "names are compared lowercased");
        assert!(r("a.b.localhost"));
        assert!(r("checkout.paypal"));
        assert!(!r("admin.acme"), "a zone's owner may name an agent admin");
        assert!(!r("shopper.alice"));
        assert!(!r("agentids"));
    }

    #[test]
    fn dns_names_are_known_by_the_public_suffix_list() {
        for dns in [
            "com",
            "paypal.com",
            "shop.example.co.uk",
            "io",
            "shop",
            "bot",
            "sber.xn--p1ai",
            "shop.xn--fiqs8s",
            "x.xn--90ais",
            "x.ck",
            "ck",
            "x.er",
            "fk",
        ] {
            assert!(under_dns_tld(&n(dns)), "{dns}");
        }
        for not_dns in ["acme", "shopper.alice", "alice.acme", "agentids"] {
            assert!(!under_dns_tld(&n(not_dns)), "{not_dns}");
        }
        for suffix in ["com", "co.uk", "github.io", "org"] {
            assert!(is_public_suffix(&n(suffix)), "{suffix}");
        }
        for tld in [
            "xn--80ao21a",
            "xn--wgbh1c",
            "xn--mgbaam7a8h",
            "fk",
            "jm",
            "np",
            "ck",
        ] {
            assert!(never_a_zone(&n(tld)), "{tld}");
        }
        for domain in ["paypal.com", "acme.co.uk", "alice.github.io", "acme"] {
            assert!(!is_public_suffix(&n(domain)), "{domain}");
        }
    }

    /// `spec/vectors/names/dns.json`.
    #[test]
    fn name_vectors() {
        let v: serde_json::Value =
            serde_json::from_str(include_str!("../../spec/vectors/names/dns.json")).unwrap();
        let cases = v["cases"].as_array().unwrap();
        assert!(cases.len() >= 10);
        for c in cases {
            let name = n(c["name"].as_str().unwrap());
            assert_eq!(reserved(&name), c["reserved"], "{name}");
            assert_eq!(is_public_suffix(&name), c["publicSuffix"], "{name}");
            assert_eq!(under_dns_tld(&name), c["dnsName"], "{name}");
        }
    }

    #[test]
    fn the_bundled_list_is_the_whole_list() {
        let text = include_str!("../data/public_suffix_list.dat");
        assert!(text.contains("// ===BEGIN ICANN DOMAINS==="));
        assert!(text.contains("// ===END PRIVATE DOMAINS==="));
        // Every ICANN top-level domain of 2026 is more than a thousand.
        let tlds: std::collections::BTreeSet<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("//"))
            .filter_map(|l| l.rsplit('.').next())
            .collect();
        assert!(tlds.len() > 1000, "{}", tlds.len());
    }
}
