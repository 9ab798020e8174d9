//! `application/x-www-form-urlencoded` pairs (the WHATWG URL Standard's parser, which
//! RFC 6749 Appendix B follows) decoded **strictly**: a name or value whose octets are
//! not UTF-8 is reported as such instead of being replaced with U+FFFD.
//!
//! Why: RFC 6749 §4.1.2 returns `state` as "the exact value received"; a lossy decode
//! would hand the client back different bytes than it sent (issue 16). A value that is
//! not UTF-8 is refused (`invalid_request`) and never echoed.

use std::borrow::Cow;

/// One `name=value` pair: the name decoded (lossily: names we read are ASCII), the
/// value decoded exactly, or [`NotUtf8`] when its octets are not UTF-8.
pub type Pair<'a> = (Cow<'a, str>, Result<String, NotUtf8>);

/// A percent-decoded value whose octets are not UTF-8 (RFC 6749 Appendix B: every
/// parameter is UTF-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotUtf8;

/// The pairs of `input` in order; empty segments (`a=1&&b=2`) are skipped, as the
/// WHATWG parser does.
pub fn pairs(input: &[u8]) -> impl Iterator<Item = Pair<'_>> {
    input
        .split(|b| *b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let mut parts = segment.splitn(2, |b| *b == b'=');
            let name = parts.next().unwrap_or_default();
            let value = parts.next().unwrap_or_default();
            let name = Cow::Owned(String::from_utf8_lossy(&decode(name)).into_owned());
            (name, String::from_utf8(decode(value)).map_err(|_| NotUtf8))
        })
}

/// The pairs of `input` as raw octets (percent-decoded, `+` as space), whether or not
/// they are UTF-8: to re-encode a form exactly.
pub fn raw_pairs(input: &[u8]) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> + '_ {
    input
        .split(|b| *b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let mut parts = segment.splitn(2, |b| *b == b'=');
            let name = parts.next().unwrap_or_default();
            let value = parts.next().unwrap_or_default();
            (decode(name), decode(value))
        })
}

/// `input` re-encoded pair by pair (`application/x-www-form-urlencoded` serialization
/// of the exact octets): plain ASCII, the same pairs and octets.
pub fn reencoded(input: &[u8]) -> String {
    let mut out = String::with_capacity(input.len());
    for (name, value) in raw_pairs(input) {
        if !out.is_empty() {
            out.push('&');
        }
        out.extend(form_urlencoded::byte_serialize(&name));
        out.push('=');
        out.extend(form_urlencoded::byte_serialize(&value));
    }
    out
}

/// `+` is a space, then percent-decoding (a `%` not followed by two hex digits stays).
fn decode(segment: &[u8]) -> Vec<u8> {
    let spaced: Vec<u8> = segment
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&spaced).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_the_whatwg_parser_when_utf8() {
        let got: Vec<(String, String)> = pairs(b"a=1+2&&b=%C3%A9%2B&c&=v&d=%zz")
            .map(|(n, v)| (n.into_owned(), v.unwrap()))
            .collect();
        let whatwg: Vec<(String, String)> =
            form_urlencoded::parse(b"a=1+2&&b=%C3%A9%2B&c&=v&d=%zz")
                .map(|(n, v)| (n.into_owned(), v.into_owned()))
                .collect();
        assert_eq!(got, whatwg);
    }

    #[test]
    fn reports_a_value_that_is_not_utf8() {
        let got: Vec<Pair<'_>> = pairs(b"state=%FF%FE&ok=%EF%BF%BD").collect();
        assert_eq!(got[0].1, Err(NotUtf8));
        assert_eq!(got[1].1.as_deref(), Ok("\u{FFFD}"));
    }

    #[test]
    fn reencoding_keeps_every_octet() {
        assert_eq!(
            reencoded(b"state=%FF+a&&x=%C3%A9&y"),
            "state=%FF+a&x=%C3%A9&y="
        );
    }

    #[test]
    fn raw_pairs_keep_every_octet() {
        let got: Vec<(Vec<u8>, Vec<u8>)> = raw_pairs(b"state=%FF+a").collect();
        assert_eq!(got, vec![(b"state".to_vec(), vec![0xFF, b' ', b'a'])]);
    }
}
