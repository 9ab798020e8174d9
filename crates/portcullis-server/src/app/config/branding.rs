//! The `[branding]` table: the product name, logo and accent colour of the pages
//! people see, and the stylesheet with the colour filled in.

use super::file::FileBranding;
use portcullis_core::client::is_loopback;
use url::Url;

/// The resolved `[branding]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    /// Product name shown on every page.
    pub product_name: String,
    /// Logo URL, if any.
    pub logo_url: Option<Url>,
    /// `#rrggbb`.
    pub accent_color: String,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            product_name: DEFAULT_PRODUCT_NAME.to_owned(),
            logo_url: None,
            accent_color: DEFAULT_ACCENT_COLOR.to_owned(),
        }
    }
}

/// The stylesheet with the accent colour filled in (validated `#rrggbb` at load).
pub fn stylesheet(branding: &Branding) -> String {
    include_str!("../../../templates/style.css").replace("ACCENT", &branding.accent_color)
}

/// Validates `[branding]`: a short product name without control characters, an
/// https (or loopback http) logo URL, and a `#rrggbb` colour (so it can be written into
/// the stylesheet as is).
pub(super) fn resolve_branding(file: FileBranding) -> Result<Branding, String> {
    let d = Branding::default();
    let product_name = match file.product_name {
        None => d.product_name,
        Some(name)
            if !name.trim().is_empty()
                && name.chars().count() <= MAX_PRODUCT_NAME_CHARS
                && !name.chars().any(char::is_control) =>
        {
            name
        }
        Some(name) => {
            return Err(format!(
                "`branding.product_name` = {name:?} must be 1 to {MAX_PRODUCT_NAME_CHARS} characters without control characters"
            ));
        }
    };
    let logo_url = match file.logo_url {
        None => None,
        Some(value) => {
            let url = Url::parse(&value)
                .map_err(|e| format!("`branding.logo_url` = {value:?} is not a URL ({e})"))?;
            match url.scheme() {
                "https" => {}
                "http" if is_loopback(&url) => {}
                _ => {
                    return Err(format!(
                        "`branding.logo_url` = {value:?} must be an https URL (http only on a loopback host)"
                    ));
                }
            }
            Some(url)
        }
    };
    let accent_color = match file.accent_color {
        None => d.accent_color,
        Some(c)
            if c.len() == 7
                && c.starts_with('#')
                && c.chars().skip(1).all(|ch| ch.is_ascii_hexdigit()) =>
        {
            c.to_ascii_lowercase()
        }
        Some(c) => {
            return Err(format!(
                "`branding.accent_color` = {c:?} must be a colour like \"#1f5fbf\""
            ));
        }
    };
    Ok(Branding {
        product_name,
        logo_url,
        accent_color,
    })
}

/// Default `branding.product_name`.
pub const DEFAULT_PRODUCT_NAME: &str = "Portcullis";
/// Longest `branding.product_name`, in characters (it must fit page titles and
/// headings on a phone).
pub const MAX_PRODUCT_NAME_CHARS: usize = 64;
/// Default accent colour (contrast ratio with white text ≥ 4.5, WCAG 2.1 AA).
pub const DEFAULT_ACCENT_COLOR: &str = "#1f5fbf";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::tests::resolve;

    #[test]
    fn branding_defaults_and_accepts_a_valid_table() {
        assert_eq!(resolve("", &[]).unwrap().branding, Branding::default());
        let c = resolve(
            "[branding]\nproduct_name = \"Acme ID\"\nlogo_url = \"https://cdn.acme.example/logo.svg\"\naccent_color = \"#AA3300\"",
            &[],
        )
        .unwrap();
        assert_eq!(c.branding.product_name, "Acme ID");
        assert_eq!(
            c.branding.logo_url.unwrap().as_str(),
            "https://cdn.acme.example/logo.svg"
        );
        assert_eq!(c.branding.accent_color, "#aa3300");
    }

    #[test]
    fn rejects_bad_branding_naming_the_key() {
        for (toml_text, key) in [
            (
                "[branding]\naccent_color = \"red; } body { display: none\"",
                "branding.accent_color",
            ),
            (
                "[branding]\nlogo_url = \"http://cdn.example/logo.png\"",
                "branding.logo_url",
            ),
            (
                "[branding]\nlogo_url = \"javascript:alert(1)\"",
                "branding.logo_url",
            ),
            ("[branding]\nproduct_name = \"\"", "branding.product_name"),
            ("[branding]\ncolour = \"#000000\"", "colour"),
        ] {
            let e = resolve(toml_text, &[]).unwrap_err();
            assert!(e.message.contains(key), "{toml_text}: {e}");
        }
    }
}
