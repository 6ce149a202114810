//! Hosts and IP allow-lists.

use std::net::IpAddr;

use ipnet::IpNet;

use super::DomainName;

/// Where a server is reached: an IP address or a DNS name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    Name(DomainName),
}

impl Host {
    pub fn parse(value: &str) -> Result<Self, String> {
        if let Ok(ip) = value.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        DomainName::parse_host_name(value)
            .map(Self::Name)
            .map_err(|_| "must be an IP address or a DNS name".to_owned())
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "{ip}"),
            Self::Name(name) => write!(f, "{name}"),
        }
    }
}

/// The addresses allowed to reach a client's cloud: IPv4/IPv6 addresses or CIDRs.
/// Empty means no restriction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpAllowList(Vec<IpNet>);

impl IpAllowList {
    /// Parses the panel's form value: a JSON array of strings (`["10.0.0.0/8", "1.2.3.4"]`).
    /// An empty string means an empty list.
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.trim().is_empty() {
            return Ok(Self::default());
        }
        let items: Vec<String> = serde_json::from_str(value).map_err(|_| {
            "must be a JSON array of IP addresses or CIDRs, e.g. [\"10.0.0.0/8\", \"203.0.113.7\"]"
                .to_owned()
        })?;
        if items.len() > 256 {
            return Err("may list at most 256 entries".into());
        }
        items
            .iter()
            .map(|item| {
                let item = item.trim();
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{item:?} is neither an IP address nor a CIDR"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    pub fn entries(&self) -> &[IpNet] {
        &self.0
    }

    /// The canonical JSON text stored in the database and returned by the API.
    pub fn to_json(&self) -> String {
        let items: Vec<String> = self.0.iter().map(|net| display_net(*net)).collect();
        serde_json::to_string(&items).expect("a list of strings serialises")
    }
}

/// A single address prints without its `/32` or `/128`, as it was most likely written.
fn display_net(net: IpNet) -> String {
    if net.prefix_len() == net.max_prefix_len() {
        net.addr().to_string()
    } else {
        net.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_accepts_addresses_and_cidrs_of_both_families() {
        let list = IpAllowList::parse(r#"["10.0.0.0/8", "203.0.113.7", "2001:db8::/32"]"#).unwrap();
        assert_eq!(list.entries().len(), 3);
        assert_eq!(
            list.to_json(),
            r#"["10.0.0.0/8","203.0.113.7","2001:db8::/32"]"#
        );
        assert!(IpAllowList::parse("[]").unwrap().entries().is_empty());
        assert!(IpAllowList::parse("").unwrap().entries().is_empty());
    }

    #[test]
    fn allow_list_rejects_non_arrays_and_bad_entries() {
        for bad in [
            "10.0.0.1",
            "{}",
            r#"["10.0.0.300"]"#,
            r#"["x; rm -rf /"]"#,
            "[1]",
        ] {
            assert!(IpAllowList::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hosts_are_ips_or_dns_names() {
        assert!(matches!(Host::parse("10.1.2.3"), Ok(Host::Ip(_))));
        assert!(matches!(Host::parse("::1"), Ok(Host::Ip(_))));
        assert!(matches!(Host::parse("srv-1.internal"), Ok(Host::Name(_))));
        assert!(Host::parse("srv_1;reboot").is_err());
    }
}
