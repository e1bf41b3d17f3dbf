//! SSRF guard for URLs users give us (webhook endpoints, agent HTTP tools): private,
//! loopback, link-local and other internal addresses are refused unless explicitly allowed.
//! The check runs again at connection time through a DNS resolver, so a name that resolves to
//! a public address when registered cannot later be rebound to an internal one.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::Url;

pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return internal_v4(v4);
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 to IPv4
                || (s[0] == 0x2002) // 6to4 can embed internal IPv4
        }
    }
}

fn internal_v4(ip: Ipv4Addr) -> bool {
    let o = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // carrier-grade NAT 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SsrfError {
    #[error("use an http or https URL")]
    Scheme,
    #[error("the URL has no host")]
    NoHost,
    #[error("use an https URL")]
    NotHttps,
    #[error("`{0}` is a private, loopback or link-local address; use a public address")]
    Internal(String),
    #[error("`{0}` does not resolve")]
    Unresolvable(String),
}

/// Parses and checks a user-supplied URL; resolves its host (bounded by `timeout`) and refuses
/// internal targets unless `allow_internal`.
pub async fn check_url(
    raw: &str,
    allow_internal: bool,
    require_https: bool,
    timeout: Duration,
) -> Result<Url, SsrfError> {
    let url = Url::parse(raw.trim()).map_err(|_| SsrfError::Scheme)?;
    match url.scheme() {
        "https" => {}
        "http" if !require_https => {}
        "http" => return Err(SsrfError::NotHttps),
        _ => return Err(SsrfError::Scheme),
    }
    let host = url
        .host_str()
        .ok_or(SsrfError::NoHost)?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if allow_internal {
        return Ok(url);
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if is_internal(ip) { Err(SsrfError::Internal(host)) } else { Ok(url) };
    }
    if host.eq_ignore_ascii_case("localhost")
        || host.ends_with(".localhost")
        || host.ends_with(".internal")
    {
        return Err(SsrfError::Internal(host));
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(timeout, tokio::net::lookup_host((host.as_str(), port)))
            .await
            .map_err(|_| SsrfError::Unresolvable(host.clone()))?
            .map_err(|_| SsrfError::Unresolvable(host.clone()))?
            .collect();
    if addrs.is_empty() {
        return Err(SsrfError::Unresolvable(host));
    }
    if let Some(bad) = addrs.iter().find(|a| is_internal(a.ip())) {
        return Err(SsrfError::Internal(format!("{host} ({})", bad.ip())));
    }
    Ok(url)
}

/// A resolver for outbound clients that only ever yields public addresses.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_internal: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.allow_internal;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                addrs.into_iter().filter(|a| allow || !is_internal(a.ip())).collect();
            if allowed.is_empty() {
                return Err(format!("{host} resolves only to internal addresses").into());
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client for user-supplied URLs: guarded DNS, no redirects, bounded time.
pub fn client(
    allow_internal: bool,
    timeout: Duration,
    user_agent: &str,
) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(GuardedResolver { allow_internal })
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .timeout(timeout)
        .user_agent(user_agent)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "255.255.255.255",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "93.184.216.34"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn refuses_internal_urls() {
        let t = Duration::from_secs(2);
        assert_eq!(
            check_url("http://127.0.0.1:8080/hook", false, false, t).await.unwrap_err(),
            SsrfError::Internal("127.0.0.1".into())
        );
        assert!(matches!(
            check_url("http://[::1]/", false, false, t).await,
            Err(SsrfError::Internal(_))
        ));
        assert!(matches!(
            check_url("http://localhost/", false, false, t).await,
            Err(SsrfError::Internal(_))
        ));
        assert!(matches!(
            check_url("http://169.254.169.254/latest/meta-data", false, false, t).await,
            Err(SsrfError::Internal(_))
        ));
        assert_eq!(
            check_url("ftp://example.com/", false, false, t).await.unwrap_err(),
            SsrfError::Scheme
        );
        assert_eq!(
            check_url("http://8.8.8.8/", false, true, t).await.unwrap_err(),
            SsrfError::NotHttps
        );
        assert!(
            check_url("http://127.0.0.1/", true, false, t).await.is_ok(),
            "allowed when configured"
        );
        assert!(check_url("https://8.8.8.8/", false, true, t).await.is_ok());
    }

    #[tokio::test]
    async fn the_connect_time_resolver_refuses_names_of_internal_addresses() {
        let name = |n: &str| n.parse::<Name>().unwrap();
        let refused = GuardedResolver { allow_internal: false }.resolve(name("localhost")).await;
        let err = refused.err().expect("localhost resolves to loopback only");
        assert!(err.to_string().contains("internal addresses"), "{err}");

        let allowed = GuardedResolver { allow_internal: true }
            .resolve(name("localhost"))
            .await
            .expect("allowed when configured");
        let addrs: Vec<SocketAddr> = allowed.collect();
        assert!(!addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
