//! RFC 9449 §4.3 step 9: `htu` is compared with the request URL "ignoring any query
//! and fragment parts", after syntax-based and scheme-based normalisation
//! (RFC 3986 §6.2.2, §6.2.3).

use url::Url;

/// The form of an `http`/`https` URL that `htu` comparisons use (RFC 9449 §4.3 step
/// 9): query and fragment removed; scheme and host lowercased, the default port
/// dropped, an empty path made `/`, and dot segments removed (RFC 3986 §6.2.2.1,
/// §6.2.2.3, §6.2.3, done by the `url` crate's WHATWG parsing); and in the path,
/// percent-encoded unreserved characters decoded and every other escape's hex
/// uppercased (§6.2.2.2). `None` for anything that is not an absolute `http` or
/// `https` URL with a host.
///
/// `https://Example.COM:443/a/%7euser/../b?x=1#f` becomes `https://example.com/a/b`.
pub fn normalize_htu(url: &str) -> Option<String> {
    let mut url = Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = normalize_percent_encoding(url.path());
    url.set_path(&path);
    Some(url.into())
}

/// RFC 3986 §6.2.2.2: decodes `%XX` of unreserved characters (ALPHA, DIGIT, `-`,
/// `.`, `_`, `~`) and uppercases the hex digits of every other escape.
fn normalize_percent_encoding(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(&hi), Some(&lo)) = (bytes.get(i + 1), bytes.get(i + 2))
            && let (Some(h), Some(l)) = (hex_value(hi), hex_value(lo))
        {
            let decoded = h * 16 + l;
            if decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'.' | b'_' | b'~') {
                out.push(char::from(decoded));
            } else {
                out.push('%');
                out.push(char::from(hi.to_ascii_uppercase()));
                out.push(char::from(lo.to_ascii_uppercase()));
            }
            i += 3;
            continue;
        }
        // The path of a parsed `Url` is ASCII (everything else is percent-encoded).
        out.push(char::from(b));
        i += 1;
    }
    out
}

fn hex_value(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|v| u8::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn query_and_fragment_are_ignored() {
        assert_eq!(
            normalize_htu("https://api.example/orders?page=2#top").unwrap(),
            "https://api.example/orders"
        );
    }

    #[test]
    fn scheme_host_port_and_path_are_normalised() {
        for url in [
            "HTTPS://API.Example:443/a/b",
            "https://api.example/a/./c/../b",
            "https://api.example/%61/b",
        ] {
            assert_eq!(
                normalize_htu(url).unwrap(),
                "https://api.example/a/b",
                "{url}"
            );
        }
        assert_eq!(
            normalize_htu("http://api.example:80").unwrap(),
            "http://api.example/"
        );
        assert_eq!(
            normalize_htu("https://api.example/a%2fb%7E").unwrap(),
            "https://api.example/a%2Fb~"
        );
    }

    #[test]
    fn different_urls_stay_different() {
        let base = normalize_htu("https://api.example/orders").unwrap();
        for other in [
            "http://api.example/orders",
            "https://api.example:8443/orders",
            "https://api.example/orders/",
            "https://api.example/Orders",
            "https://other.example/orders",
        ] {
            assert_ne!(normalize_htu(other).unwrap(), base, "{other}");
        }
    }

    #[test]
    fn only_absolute_http_urls() {
        for bad in [
            "/orders",
            "ftp://api.example/x",
            "mailto:a@b",
            "",
            "https://",
        ] {
            assert!(normalize_htu(bad).is_none(), "{bad}");
        }
    }
}
