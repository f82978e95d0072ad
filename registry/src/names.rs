//! Which names can be had, and how (spec sections 5.1 and 5.6): reserved names nobody has; names
//! under a DNS top-level domain only inside a zone proven by DNS; public suffixes never; the
//! rest first come.
//!
//! DNS knowledge comes from the Public Suffix List (`registry/data/public_suffix_list.dat`, its
//! provenance in `registry/data/README.md`), read by the `publicsuffix` crate once per process.

use std::sync::LazyLock;

use agentid_spec::id::AgentName;
use publicsuffix::{List, Psl};

/// Names nobody may register or claim as they are written (spec 5.1): a name is reserved when
/// its last label, the top of its hierarchy, is one of these or of [`RESERVED_WITH_LOOK_ALIKES`].
/// The special-use names of RFC 6761, RFC 2606, RFC 6762, RFC 7686 and RFC 9476; names private
/// networks use as if they were top-level domains; the infrastructure of the Internet. Words
/// of everyday language, whose look-alikes are other words (`home` and `horne`), not
/// impersonations.
pub const RESERVED_AS_WRITTEN: &[&str] = &[
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
    // Infrastructure.
    "dns",
    "ns",
    "mail",
    "smtp",
    "http",
    "https",
    "ftp",
    "did",
    "www",
    "api",
    "well-known",
    // The bodies of the Internet (short words whose look-alikes are names: `lana`).
    "iana",
    "icann",
    "ietf",
    "w3c",
];

/// Names nobody may register or claim, nor any name that reads as one of them (spec 5.1): names
/// that would pass for the service or its operators, and the brands
/// a payment agent would be expected to impersonate first (card networks, payment processors,
/// exchanges, the largest agent platforms and marketplaces). A brand that is a DNS top-level
/// domain as well (`amazon`, `google`, ...) is held by the DNS rule already, and listed anyway.
pub const RESERVED_WITH_LOOK_ALIKES: &[&str] = &[
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
    "cashapp",
    "zelle",
    "revolut",
    "coinbase",
    "binance",
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

/// Whether `top` is reserved as written.
fn reserved_as_written(top: &str) -> bool {
    RESERVED_AS_WRITTEN.contains(&top) || RESERVED_WITH_LOOK_ALIKES.contains(&top)
}

/// Whether `name` is reserved: see [`why_reserved`].
pub fn reserved(name: &AgentName) -> bool {
    why_reserved(name).is_some()
}

/// Why `name` is reserved, if it is: its last label is in [`RESERVED_AS_WRITTEN`] or
/// [`RESERVED_WITH_LOOK_ALIKES`], or reads as one of the latter ([`look_alike`]: `paypa1`,
/// `g00gle`, `arnazon`, `amazön`, a Cyrillic `раураӏ`); or one of its labels is an IDNA label
/// (`xn--`) that does not decode to Unicode in NFC, holds a character Unicode does not allow in
/// identifiers, or mixes scripts (Latin with Cyrillic, Greek or Han: the homograph's mark;
/// Japanese's Han and kana are one script here, as TS #39 has them), so that no name displays
/// as another's.
pub fn why_reserved(name: &AgentName) -> Option<String> {
    use unicode_normalization::UnicodeNormalization;
    use unicode_security::{GeneralSecurityProfile, MixedScript};
    let top = top_label(name);
    if reserved_as_written(top) {
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
        if unicode.nfc().collect::<String>() != unicode {
            return Some(format!(
                "{name} ({label} is not in Unicode's composed form, NFC)"
            ));
        }
        if !unicode.as_str().is_single_script() {
            return Some(format!("{name} ({label}, {unicode:?}, mixes scripts)"));
        }
        if label == top {
            shown = Some(unicode);
        }
    }
    look_alike(shown.as_deref().unwrap_or(top))
        .iter()
        .find_map(|form| LOOK_ALIKES.get(form.as_str()))
        .map(|like| format!("{name} (reads as {like})"))
}

/// What `label` reads as: its confusable skeleton (Unicode TS #39: `rn` and `m` alike, Cyrillic
/// `а` and Latin `a`), without combining marks (`ö` as `o`, `ł` as `l`), lowercase, the digits
/// people read for letters read as them (`0` as `o`, `1` as `l` or as `i`, `2` as `z`, `3` as
/// `e`, `4` as `a`, `5` as `s`, `6` and `8` as `b`, `7` as `t`, `9` as `g`), `vv` as `w` and
/// `cl` as `d`, without hyphens: one form for each reading of `1`. What reads alike, not
/// what is spelt alike: a typo (`paypl`, `paypall`) or a brand inside a longer label
/// (`paypal-checkout`) is another name, as DNS registries have it.
pub fn look_alike(label: &str) -> Vec<String> {
    let digits: String = label
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| *c != '-')
        .map(|c| match c {
            '0' => 'o',
            '|' => 'l',
            '2' => 'z',
            '3' => 'e',
            '4' => 'a',
            '5' => 's',
            '6' | '8' => 'b',
            '7' => 't',
            '9' => 'g',
            c => c,
        })
        .collect();
    let readings: &[&str] = if digits.contains('1') {
        &["l", "i"]
    } else {
        &["l"]
    };
    readings
        .iter()
        .map(|one| {
            let read = digits.replace('1', one);
            let marked: String = unicode_security::skeleton(&read)
                .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
                .flat_map(char::to_lowercase)
                .collect();
            unicode_security::skeleton(&marked.replace("vv", "w").replace("cl", "d")).collect()
        })
        .collect()
}

/// What each of [`RESERVED_WITH_LOOK_ALIKES`] reads as, to the name.
static LOOK_ALIKES: LazyLock<std::collections::HashMap<String, &'static str>> =
    LazyLock::new(|| {
        RESERVED_WITH_LOOK_ALIKES
            .iter()
            .flat_map(|r| look_alike(r).into_iter().map(move |form| (form, *r)))
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
        // Digits for letters, letters with marks, Latin with Han or kana, decomposed forms.
        for (n, reason) in [
            ("g00gle", "reads as google"),
            ("m1crosoft", "reads as microsoft"),
            ("str1pe", "reads as stripe"),
            ("ama2on", "reads as amazon"),
            ("faceb00k", "reads as facebook"),
            ("arnex", "reads as amex"),
            ("xn--paypa-o7a", "reads as paypal"),
            ("xn--papal-yg2b", "reads as paypal"),
            ("xn--paypal-uyd", "reads as paypal"),
            ("xn--amazn-mua", "reads as amazon"),
            ("xn--paypa-fn1h", "mixes scripts"),
            ("xn--ggle-gx3ca", "mixes scripts"),
            ("xn--visa-jx4c", "mixes scripts"),
            ("xn--paypal-d4d", "NFC"),
            ("xn--bucher-xyd", "NFC"),
        ] {
            let w = why(n).unwrap_or_else(|| panic!("{n}"));
            assert!(w.contains(reason), "{n}: {w}");
        }
        // Seventh attack: hyphens, vv for w, cl for d, 6 for b.
        for (n, like) in [
            ("pay-pal", "paypal"),
            ("apple-pay", "applepay"),
            ("master-card", "mastercard"),
            ("vvalmart", "walmart"),
            ("aclyen", "adyen"),
            ("e6ay", "ebay"),
            ("coin6ase", "coinbase"),
        ] {
            let w = why(n).unwrap_or_else(|| panic!("{n}"));
            assert!(w.contains(&format!("reads as {like}")), "{n}: {w}");
        }
        // Everyday words and names that look like reserved words are not impersonations of
        // them.
        for word in [
            "horne",
            "dornain",
            "rnail",
            "localhost1",
            "lana",
            "allpay",
            "kiarna",
            "wec",
            // Eighth attack: one letter more or less is spelling, not reading.
            "goggle",
            "rot",
            "metta",
            "suport",
            "walet",
            "vissa",
            "aple",
        ] {
            assert_eq!(why(word), None, "{word}");
        }
        // Real names in one script (Japanese's Han and kana are one) are not.
        for fine in [
            "xn--e1afmkfd",
            "shop.xn--p1ai",
            "xn--fiqs8s",
            "bot.xn--bcher-kva",
            "alice",
            "payments.acme",
            "visas",
            "xn--wgv71a119e",
            "xn--5ck2eqb538s34z",
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
