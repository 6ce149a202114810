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

/// The address a server's vhosts listen on: all addresses (empty) or one IP address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListenAddress(Option<IpAddr>);

impl ListenAddress {
    pub fn parse(value: &str) -> Result<Self, String> {
        let value = value.trim();
        if value.is_empty() {
            return Ok(Self(None));
        }
        // nginx writes an IPv6 address in brackets; accept it either way.
        let bare = value
            .strip_prefix('[')
            .and_then(|v| v.strip_suffix(']'))
            .unwrap_or(value);
        bare.parse::<IpAddr>()
            .map(|ip| Self(Some(ip)))
            .map_err(|_| {
                "must be an IPv4 or IPv6 address of this server, or empty for all addresses"
                    .to_owned()
            })
    }

    pub fn ip(&self) -> Option<IpAddr> {
        self.0
    }

    /// As stored: the canonical address, or empty for all addresses.
    pub fn to_stored(&self) -> String {
        self.0.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

/// The range of ports a server's client containers publish on 127.0.0.1: `A-B` with
/// 1024 <= A <= B <= 65535 (below 1024 needs root, and the web front has 80 and 443).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientPorts {
    pub min: u16,
    pub max: u16,
}

impl ClientPorts {
    pub const DEFAULT: Self = Self {
        min: 20000,
        max: 29999,
    };

    pub fn parse(value: &str) -> Result<Self, String> {
        let bad = || {
            Err("must be a port range A-B with 1024 <= A <= B <= 65535, e.g. 20000-29999".into())
        };
        let Some((a, b)) = value.trim().split_once('-') else {
            return bad();
        };
        match (a.trim().parse::<u16>(), b.trim().parse::<u16>()) {
            (Ok(min), Ok(max)) if 1024 <= min && min <= max => Ok(Self { min, max }),
            _ => bad(),
        }
    }

    pub fn contains(&self, port: i64) -> bool {
        (i64::from(self.min)..=i64::from(self.max)).contains(&port)
    }
}

impl std::fmt::Display for ClientPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.min, self.max)
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
    fn a_listen_address_is_empty_or_one_ip_address() {
        assert_eq!(ListenAddress::parse("").unwrap().to_stored(), "");
        assert_eq!(
            ListenAddress::parse("10.0.0.5").unwrap().to_stored(),
            "10.0.0.5"
        );
        assert_eq!(
            ListenAddress::parse("[2001:db8::5]").unwrap().to_stored(),
            "2001:db8::5"
        );
        for bad in ["localhost", "10.0.0.300", "10.0.0.5:80", "*"] {
            assert!(ListenAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn client_ports_are_a_range_above_1023() {
        assert_eq!(
            ClientPorts::parse("20000-29999").unwrap(),
            ClientPorts::DEFAULT
        );
        assert_eq!(
            ClientPorts::parse("1024-1024").unwrap().to_string(),
            "1024-1024"
        );
        for bad in [
            "",
            "20000",
            "80-90",
            "3000-2000",
            "20000-70000",
            "a-b",
            "1-2-3",
        ] {
            assert!(ClientPorts::parse(bad).is_err(), "{bad:?} accepted");
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
