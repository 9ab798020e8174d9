//! Reading the pages people see, as a test must: the security headers every page
//! carries, the absence of script, and the forms (a small start-tag reader, enough for
//! our own askama templates; no HTML5 parser).

use reqwest::header::HeaderMap;
use std::collections::BTreeMap;

/// Asserts the headers every page carries: a strict CSP (no inline or eval'd script,
/// no framing), `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`.
pub fn assert_page_headers(headers: &HeaderMap) {
    let csp = headers
        .get("content-security-policy")
        .expect("Content-Security-Policy")
        .to_str()
        .unwrap();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(!csp.contains("unsafe-eval"), "{csp}");
    assert!(
        csp.contains("default-src 'none'") || csp.contains("script-src 'none'"),
        "no script may run: {csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

/// Asserts `response` is an HTML page with the security headers; returns its body.
pub async fn html_page(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_page_headers(response.headers());
    response.text().await.unwrap()
}

/// Asserts there is no script on the page: no `<script>`, no `on…=` handler, no
/// `javascript:` URL.
pub fn assert_no_script(html: &str) {
    for (tag, attrs) in elements(html) {
        assert_ne!(tag, "script", "no script element");
        for (name, value) in &attrs {
            assert!(!name.starts_with("on"), "<{tag} {name}=…> runs script");
            assert!(
                !value
                    .trim_start()
                    .to_ascii_lowercase()
                    .starts_with("javascript:"),
                "<{tag} {name}={value}>"
            );
        }
    }
}

/// A form on a page: where it posts, its hidden fields and its submit buttons.
#[derive(Debug, Clone)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub hidden: Vec<(String, String)>,
    /// Every `<input>` (name, type).
    pub inputs: Vec<(String, String)>,
    /// Submit buttons: (name, value).
    pub buttons: Vec<(String, String)>,
}

impl Form {
    /// The first form of `html` whose `action` is `action`.
    pub fn find(html: &str, action: &str) -> Option<Self> {
        let lower = html.to_ascii_lowercase();
        let mut from = 0;
        while let Some(start) = lower[from..].find("<form").map(|i| i + from) {
            let end = lower[start..]
                .find("</form>")
                .map_or(html.len(), |i| i + start);
            let inner = &html[start..end];
            let tags = elements(inner);
            let (_, attrs) = tags.first()?;
            let form_action = attrs.get("action").cloned().unwrap_or_default();
            if form_action == action {
                let mut form = Form {
                    action: form_action,
                    method: attrs
                        .get("method")
                        .cloned()
                        .unwrap_or_default()
                        .to_ascii_lowercase(),
                    hidden: Vec::new(),
                    inputs: Vec::new(),
                    buttons: Vec::new(),
                };
                for (tag, attrs) in &tags[1..] {
                    let name = attrs.get("name").cloned().unwrap_or_default();
                    let kind = attrs.get("type").cloned().unwrap_or_default();
                    let value = attrs.get("value").cloned().unwrap_or_default();
                    match tag.as_str() {
                        "input" if kind == "hidden" => {
                            form.hidden.push((name.clone(), value));
                            form.inputs.push((name, kind));
                        }
                        "input" => form.inputs.push((name, kind)),
                        "button" if kind.is_empty() || kind == "submit" => {
                            form.buttons.push((name, value));
                        }
                        _ => {}
                    }
                }
                return Some(form);
            }
            from = end;
        }
        None
    }

    /// The value of hidden field `name`.
    pub fn hidden(&self, name: &str) -> Option<&str> {
        self.hidden
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every start tag of `html`: its lower-case name and attributes (entities decoded;
/// attributes without a value map to "").
pub fn elements(html: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        rest = &rest[i + 1..];
        if rest.starts_with('/') || rest.starts_with('!') {
            continue;
        }
        let name_end = rest
            .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        if name.is_empty() {
            continue;
        }
        let mut attrs = BTreeMap::new();
        let mut s = &rest[name_end..];
        loop {
            s = s.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
            if s.is_empty() || s.starts_with('>') {
                break;
            }
            let key_end = s
                .find(|c: char| c.is_whitespace() || c == '=' || c == '>' || c == '/')
                .unwrap_or(s.len());
            let key = s[..key_end].to_ascii_lowercase();
            s = s[key_end..].trim_start();
            let value = if let Some(after) = s.strip_prefix('=') {
                let after = after.trim_start();
                if let Some(q) = after.chars().next().filter(|c| *c == '"' || *c == '\'') {
                    let body = &after[1..];
                    let end = body.find(q).unwrap_or(body.len());
                    s = body.get(end + 1..).unwrap_or("");
                    decode_entities(&body[..end])
                } else {
                    let end = after
                        .find(|c: char| c.is_whitespace() || c == '>')
                        .unwrap_or(after.len());
                    s = &after[end..];
                    decode_entities(&after[..end])
                }
            } else {
                String::new()
            };
            if key.is_empty() {
                // Not an attribute: skip one character to make progress.
                s = s.get(1..).unwrap_or("");
                continue;
            }
            attrs.insert(key, value);
        }
        out.push((name, attrs));
        rest = s;
    }
    out
}

/// Decodes the character references askama's HTML escaping produces.
pub fn decode_entities(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&#60;", "<")
        .replace("&gt;", ">")
        .replace("&#62;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}
