//! Property tests of [`match_redirect_uri`] (issue 16 item 8): requested URIs are
//! built from components, some equal to the registered URI's and some not, and the
//! expected answer is derived from the rules themselves: RFC 6749 §3.1.2.3 exact
//! string match, plus RFC 8252 §7.3 for a public client's loopback IP-literal URI,
//! where the port, and only the port, may differ.

use super::*;
use crate::client::{ClientRegistration, RecordSource};
use proptest::prelude::*;
use secrecy::SecretString;

fn client(registered: &str, public: bool) -> Client {
    ClientRegistration {
        client_id: "app".into(),
        client_secret: (!public).then(|| SecretString::from("0123456789abcdef0123456789abcdef")),
        redirect_uris: vec![registered.to_owned()],
        scopes: vec!["openid".into()],
        ..Default::default()
    }
    .validate(RecordSource::Config, 0)
    .unwrap()
}

/// A URI's parts, each from a small set so that equal and unequal parts both occur.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Parts {
    scheme: &'static str,
    userinfo: &'static str,
    host: &'static str,
    port: Option<u32>,
    path: &'static str,
    query: &'static str,
    fragment: &'static str,
}

impl Parts {
    fn uri(&self) -> String {
        let port = self.port.map(|p| format!(":{p}")).unwrap_or_default();
        format!(
            "{}://{}{}{port}{}{}{}",
            self.scheme, self.userinfo, self.host, self.path, self.query, self.fragment
        )
    }
}

/// Registered native-app URIs in canonical form: http, a loopback IP literal,
/// an optional non-default port, a path, an optional query.
fn registered() -> impl Strategy<Value = Parts> {
    (
        prop::sample::select(vec!["127.0.0.1", "[::1]"]),
        prop::option::of(1024_u32..65536),
        prop::sample::select(vec!["/cb", "/a/b", "/"]),
        prop::sample::select(vec!["", "?x=1"]),
    )
        .prop_map(|(host, port, path, query)| Parts {
            scheme: "http",
            userinfo: "",
            host,
            port,
            path,
            query,
            fragment: "",
        })
}

/// Requested URIs built from `registered`: each part is, three times in four, the
/// registered one, else a variation that a redirect-URI attack uses (user info,
/// other hosts or spellings of the same host, case, extra slashes, dot segments,
/// percent-encoding, a fragment, an out-of-range or default port), so most URIs
/// differ from the registered one in one or two parts.
fn requested(registered: &Parts) -> impl Strategy<Value = Parts> + use<> {
    fn part<T: Clone + std::fmt::Debug + 'static>(
        same: T,
        other: impl Strategy<Value = T> + 'static,
    ) -> BoxedStrategy<T> {
        prop_oneof![3 => Just(same), 1 => other].boxed()
    }
    (
        part(
            registered.scheme,
            prop::sample::select(vec!["https", "HTTP", "Http"]),
        ),
        part(
            registered.userinfo,
            prop::sample::select(vec!["u@", "u:p@", "127.0.0.1:1@", ":@"]),
        ),
        part(
            registered.host,
            prop::sample::select(vec![
                "127.0.0.1",
                "[::1]",
                "localhost",
                "127.0.0.2",
                "127.1",
                "2130706433",
                "[::ffff:127.0.0.1]",
                "[0:0:0:0:0:0:0:1]",
                "evil.example",
            ]),
        ),
        part(
            registered.port,
            prop::option::of(prop_oneof![0_u32..65536, Just(80_u32), 65536_u32..100_000]),
        ),
        part(
            registered.path,
            prop::sample::select(vec![
                "/cb", "/a/b", "/", "/cb/", "/CB", "//cb", "/x/../cb", "/./cb", "/c%62", "/a%2Fb",
                "",
            ]),
        ),
        part(
            registered.query,
            prop::sample::select(vec!["?x=1", "?x=2", "?", "?X=1"]),
        ),
        part(registered.fragment, prop::sample::select(vec!["#f", "#"])),
    )
        .prop_map(
            |(scheme, userinfo, host, port, path, query, fragment)| Parts {
                scheme,
                userinfo,
                host,
                port,
                path,
                query,
                fragment,
            },
        )
}

/// A registered URI and a requested one derived from it.
fn registered_and_requested() -> impl Strategy<Value = (Parts, Parts)> {
    registered().prop_flat_map(|r| (Just(r.clone()), requested(&r)))
}

/// RFC 8252 §7.3, read strictly: the same canonical URI but for the port, which
/// must be one a URI can carry (≤ 65535) and written canonically (not the default 80).
fn differs_only_in_a_valid_port(registered: &Parts, requested: &Parts) -> bool {
    let port_ok = requested.port.is_none_or(|p| p <= 65535 && p != 80);
    port_ok
        && Parts {
            port: registered.port,
            ..requested.clone()
        } == *registered
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn a_confidential_client_gets_only_an_exact_string_match(
        (registered, requested) in registered_and_requested(),
    ) {
        let (registered, requested) = (registered.uri(), requested.uri());
        let answer = match_redirect_uri(&client(&registered, false), Some(&requested));
        if requested == registered {
            prop_assert_eq!(answer, Ok((requested, true)));
        } else {
            prop_assert_eq!(answer, Err(RedirectUriReason::NotRegistered));
        }
    }

    #[test]
    fn a_loopback_uri_of_a_public_client_may_differ_in_the_port_and_nothing_else(
        (registered, requested) in registered_and_requested(),
    ) {
        let accepted = requested.uri() == registered.uri()
            || differs_only_in_a_valid_port(&registered, &requested);
        let answer = match_redirect_uri(&client(&registered.uri(), true), Some(&requested.uri()));
        if accepted {
            prop_assert_eq!(answer, Ok((requested.uri(), true)));
        } else {
            prop_assert_eq!(answer, Err(RedirectUriReason::NotRegistered));
        }
    }

    #[test]
    fn a_public_client_gets_no_port_exception_off_loopback_ip_literals(
        host in prop::sample::select(vec!["localhost", "app.example", "127.0.0.2"]),
        scheme in prop::sample::select(vec!["http", "https"]),
        port in prop::option::of(1024_u32..65536),
        other in 1024_u32..65536,
    ) {
        // `http://127.0.0.2` is loopback, but not the IP literal RFC 8252 §7.3 names;
        // plain http elsewhere is refused at registration, so only https is left there.
        prop_assume!(scheme == "https" || host != "app.example");
        let port_text = port.map(|p| format!(":{p}")).unwrap_or_default();
        let registered = format!("{scheme}://{host}{port_text}/cb");
        let requested = format!("{scheme}://{host}:{other}/cb");
        prop_assume!(requested != registered);
        prop_assert_eq!(
            match_redirect_uri(&client(&registered, true), Some(&requested)),
            Err(RedirectUriReason::NotRegistered)
        );
    }
}
