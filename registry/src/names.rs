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

/// Whether `name` is reserved: see [`why_reserved`].
pub fn reserved(name: &AgentName) -> bool {
    why_reserved(name).is_some()
}

/// Why `name` is reserved, if it is: its last label is in [`RESERVED_NAMES`], or reads as one
/// (its confusable skeleton, Unicode TS #39, is one of theirs: `paypa1`, `arnazon`, or the
/// punycode `xn--pypal-4ve` of a Cyrillic `а` in `pаypal`); or one of its labels is an IDNA
/// label (`xn--`) that does not decode, holds a character Unicode does not allow in
/// identifiers, or mixes scripts beyond what TS #39 calls highly restrictive (Latin with
/// Cyrillic or Greek: the homograph's mark), so that no name displays as another's.
pub fn why_reserved(name: &AgentName) -> Option<String> {
    use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};
    let top = top_label(name);
    if RESERVED_NAMES.contains(&top) {
        return Some(name.to_string());
    }
    let mut shown = None;
    for label in name.as_str().split('.') {
        let Some(code) = label.strip_prefix("xn--") else {
            continue;
        };
        let Some(unicode) = idna::punycode::decode_to_string(code).filter(|u| !u.is_ascii()) else {
            return Some(format!(
                "{name} ({label} is not the punycode of a Unicode label)"
            ));
        };
        if let Some(c) = unicode
            .chars()
            .find(|c| *c != '-' && !c.identifier_allowed())
        {
            return Some(format!(
                "{name} ({label} holds U+{:04X}, not allowed in identifiers)",
                u32::from(c)
            ));
        }
        if unicode.as_str().detect_restriction_level() > RestrictionLevel::HighlyRestrictive {
            return Some(format!("{name} ({label}, {unicode:?}, mixes scripts)"));
        }
        if label == top {
            shown = Some(unicode);
        }
    }
    let skeleton: String = unicode_security::skeleton(shown.as_deref().unwrap_or(top)).collect();
    RESERVED_SKELETONS
        .get(skeleton.as_str())
        .map(|like| format!("{name} (reads as {like})"))
}

/// The confusable skeletons of [`RESERVED_NAMES`], each to its name.
static RESERVED_SKELETONS: LazyLock<std::collections::HashMap<String, &'static str>> =
    LazyLock::new(|| {
        RESERVED_NAMES
            .iter()
            .map(|r| (unicode_security::skeleton(r).collect(), *r))
            .collect()
    });

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

    /// A name that reads as a reserved one is reserved: ASCII look-alikes and Unicode
    /// homographs by their TS #39 skeleton; IDNA labels that mix scripts, hold what no
    /// identifier may, or do not decode, wherever they are.
    #[test]
    fn look_alikes_of_reserved_names_are_reserved() {
        let why = |s: &str| why_reserved(&n(s));
        // `pаypal` with a Cyrillic а, `аmazon` likewise, `ѕtripe` with a Cyrillic ѕ.
        for homograph in ["xn--pypal-4ve", "xn--mazon-3ve", "xn--tripe-g2e"] {
            let w = why(homograph).unwrap_or_else(|| panic!("{homograph}"));
            assert!(w.contains("mixes scripts"), "{homograph}: {w}");
        }
        // A whole-script Cyrillic look-alike of `paypal` (раураӏ).
        let w = why("checkout.xn--80aa0cbo65f").unwrap();
        assert!(w.contains("reads as"), "{w}");
        assert!(why("paypa1").unwrap().contains("reads as paypal"));
        assert!(why("arnazon").unwrap().contains("reads as amazon"));
        assert!(why("shop.paypal").is_some());
        // Not Unicode, or not allowed in identifiers.
        assert!(why("xn--abc").is_some(), "plain ASCII in punycode");
        assert!(why("xn--zz").is_some(), "does not decode");
        // Real names in one script (or Han with Latin digits) are not.
        for fine in [
            "xn--e1afmkfd",
            "shop.xn--p1ai",
            "xn--fiqs8s",
            "bot.xn--bcher-kva",
            "alice",
            "payments.acme",
            "visas",
        ] {
            assert_eq!(why(fine), None, "{fine}");
        }
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
