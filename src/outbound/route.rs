//! Where mail for a domain goes (RFC 5321 §5.1, RFC 7505): the hosts to try, in order.

use super::dns::Answer;

/// The outcome of looking up a domain's MX records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// Host names to try in this order (lowest preference first, equal preferences in a
    /// random order so the load spreads), each to be resolved to addresses.
    Hosts(Vec<String>),
    /// The domain says it takes no mail (a null MX, RFC 7505): bounce at once.
    NullMx,
    /// The domain does not exist: bounce at once.
    NoSuchDomain,
}

/// The route for `domain` from the answer to its MX question. Without MX records the
/// domain itself is the host (the implicit MX, RFC 5321 §5.1). A null MX among other MX
/// records (which RFC 7505 §3 forbids) is ignored in favour of the others. `seed` orders
/// hosts of equal preference.
pub fn route(domain: &str, mx: &Answer, seed: u64) -> Route {
    match mx {
        Answer::NoSuchName => Route::NoSuchDomain,
        Answer::Mx(records) => {
            let mut real: Vec<(u16, &str)> = records
                .iter()
                .filter(|(_, host)| !host.is_empty())
                .map(|(pref, host)| (*pref, host.as_str()))
                .collect();
            if real.is_empty() {
                return Route::NullMx;
            }
            // A stable shuffle of equal preferences: sort by (preference, mixed hash).
            real.sort_by_key(|(pref, host)| (*pref, mix(seed, host)));
            let mut hosts: Vec<String> = Vec::with_capacity(real.len());
            for (_, host) in real {
                if !hosts.iter().any(|h| h == host) {
                    hosts.push(host.to_string());
                }
            }
            Route::Hosts(hosts)
        }
        _ => Route::Hosts(vec![domain.to_ascii_lowercase()]),
    }
}

fn mix(seed: u64, host: &str) -> u64 {
    let mut h = seed ^ 0xcbf2_9ce4_8422_2325;
    for b in host.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The domain of a mailbox (`local@domain`), lower case; `None` without an `@`.
pub fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    (!domain.is_empty()).then(|| domain.trim_matches(['[', ']']).to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preference_order_with_ties_spread_by_seed() {
        let answer = Answer::Mx(vec![
            (20, "backup.example.org".into()),
            (10, "a.example.org".into()),
            (10, "b.example.org".into()),
        ]);
        let orders: std::collections::BTreeSet<Vec<String>> = (0..64)
            .map(|seed| match route("example.org", &answer, seed) {
                Route::Hosts(h) => h,
                other => panic!("{other:?}"),
            })
            .collect();
        // Both orders of the two preference-10 hosts occur; the backup is always last.
        assert_eq!(orders.len(), 2, "{orders:?}");
        assert!(orders
            .iter()
            .all(|o| o.len() == 3 && o[2] == "backup.example.org"));
    }

    #[test]
    fn null_mx_nxdomain_and_implicit_mx() {
        assert_eq!(
            route("example.org", &Answer::Mx(vec![(0, String::new())]), 1),
            Route::NullMx
        );
        assert_eq!(
            route(
                "example.org",
                &Answer::Mx(vec![(0, String::new()), (5, "mx.example.org".into())]),
                1
            ),
            Route::Hosts(vec!["mx.example.org".into()])
        );
        assert_eq!(
            route("example.org", &Answer::NoSuchName, 1),
            Route::NoSuchDomain
        );
        assert_eq!(
            route("Example.ORG", &Answer::NoData, 1),
            Route::Hosts(vec!["example.org".into()])
        );
        assert_eq!(domain_of("a@B.org").as_deref(), Some("b.org"));
        assert_eq!(domain_of("a@[192.0.2.1]").as_deref(), Some("192.0.2.1"));
        assert_eq!(domain_of("nobody"), None);
    }
}
