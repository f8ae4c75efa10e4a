//! BCP-47 language tags: well-formedness and matching (RFC 5646 syntax, RFC 4647 basic filtering).

/// The longest tag accepted. RFC 5646 asks implementations to take at least 35 characters.
pub(super) const MAX_TAG_LEN: usize = 64;

/// Whether `tag` is a well-formed BCP-47 tag (syntax only; subtags are not looked up in
/// the IANA registry, so a new language never needs a new node).
pub fn is_well_formed(tag: &str) -> bool {
    if tag.is_empty() || tag.len() > MAX_TAG_LEN || !tag.is_ascii() {
        return false;
    }
    let mut parts = tag.split('-');
    let Some(primary) = parts.next() else {
        return false;
    };
    // The language subtag: 2-3 letters (ISO 639). RFC 5646 reserves 4-8 letter subtags, but
    // none is registered, and refusing them catches "english" for "en".
    let private_only = primary.eq_ignore_ascii_case("x");
    if !private_only && !(2..=3).contains(&primary.len()) {
        return false;
    }
    if !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    // After a singleton ("u", "x", …) the subtags belong to an extension or private use.
    let mut after_singleton = if private_only { Some(b'x') } else { None };
    let mut pending_singleton = private_only;
    for part in parts {
        if part.is_empty() || part.len() > 8 || !part.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return false;
        }
        if part.len() == 1 && after_singleton != Some(b'x') {
            if pending_singleton {
                return false; // two singletons in a row: an empty extension
            }
            after_singleton = Some(part.as_bytes()[0].to_ascii_lowercase());
            pending_singleton = true;
            continue;
        }
        match after_singleton {
            Some(b'x') => {}
            Some(_) if part.len() < 2 => return false,
            _ => {}
        }
        pending_singleton = false;
    }
    !pending_singleton
}

/// The lower-case form of a tag, for comparison (tags are case-insensitive).
pub fn normalize_language(tag: &str) -> String {
    tag.trim().to_ascii_lowercase()
}

/// RFC 4647 basic filtering: whether `range` ("pt", "pt-BR", "*") matches `tag`.
pub fn language_matches(range: &str, tag: &str) -> bool {
    let range = range.trim();
    if range == "*" {
        return true;
    }
    let tag = tag.trim();
    if range.len() > tag.len() || !tag.is_char_boundary(range.len()) {
        return false;
    }
    let (head, rest) = tag.split_at(range.len());
    head.eq_ignore_ascii_case(range) && (rest.is_empty() || rest.starts_with('-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_tags() {
        for t in [
            "en",
            "az",
            "pt-BR",
            "zh-Hant-TW",
            "es-419",
            "sr-Latn",
            "de-CH-1996",
            "en-x-union",
            "x-private",
            "fr-u-ca-gregory",
            "ast",
        ] {
            assert!(is_well_formed(t), "{t}");
        }
        for t in [
            "",
            "e",
            "englishlanguage",
            "en_GB",
            "en--GB",
            "en-",
            "-en",
            "12",
            "en-a",
            "en-a-b",
            "ru-\u{0444}",
            "en-toolongsubtag",
        ] {
            assert!(!is_well_formed(t), "{t}");
        }
    }

    #[test]
    fn basic_filtering() {
        assert!(language_matches("pt", "pt-BR"));
        assert!(language_matches("PT-br", "pt-BR"));
        assert!(language_matches("*", "az"));
        assert!(!language_matches("pt", "ptx"));
        assert!(!language_matches("pt-BR", "pt"));
        assert!(!language_matches("en", "az"));
    }
}
