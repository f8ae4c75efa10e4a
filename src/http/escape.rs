//! Escaping for HTML and XML text and attributes, and for URL query values: everything that
//! came from a message is written out through here.

use std::fmt;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Text escaped for HTML or XML, in element content and in quoted attributes alike.
///
/// `&`, `<`, `>`, `"` and `'` become character references. Characters that XML 1.0 does not
/// allow at all (C0 controls other than tab, line feed and carriage return, and U+FFFE/U+FFFF)
/// become U+FFFD: validation refuses control characters already, but a feed must stay
/// well-formed whatever a future rule lets through.
#[derive(Debug, Clone, Copy)]
pub(super) struct Esc<'a>(pub(super) &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape(f, self.0, true)
    }
}

/// Text escaped for XML element content only (never an attribute): `&`, `<` and `>` become
/// character references and quotes stay as they are, so a text full of quotes does not grow
/// sixfold in a feed. Not allowed characters become U+FFFD as in [`Esc`].
#[derive(Debug, Clone, Copy)]
pub(super) struct EscText<'a>(pub(super) &'a str);

impl fmt::Display for EscText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        escape(f, self.0, false)
    }
}

fn escape(f: &mut fmt::Formatter<'_>, s: &str, quotes: bool) -> fmt::Result {
    let mut last = 0;
    for (i, c) in s.char_indices() {
        let rep = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' if quotes => "&quot;",
            '\'' if quotes => "&#39;",
            '\t' | '\n' | '\r' => continue,
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => "\u{FFFD}",
            _ => continue,
        };
        f.write_str(&s[last..i])?;
        f.write_str(rep)?;
        last = i + c.len_utf8();
    }
    f.write_str(&s[last..])
}

/// Escapes into a new string.
pub(super) fn esc(s: &str) -> String {
    Esc(s).to_string()
}

/// What stays as it is in a query value: the unreserved characters of RFC 3986.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query name or value.
pub(super) fn url_component(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_neutralised() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("plain text, ünïcode"), "plain text, ünïcode");
        assert_eq!(esc("a\u{1}b\tc\nd"), "a\u{FFFD}b\tc\nd");
        assert_eq!(esc(""), "");
        assert_eq!(
            EscText(r#"<b>"x" & 'y' ]]></b>"#).to_string(),
            "&lt;b&gt;\"x\" &amp; 'y' ]]&gt;&lt;/b&gt;"
        );
        assert_eq!(EscText("a\u{1}b").to_string(), "a\u{FFFD}b");
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(url_component("union-rights"), "union-rights");
        assert_eq!(url_component("a b&c=d"), "a%20b%26c%3Dd");
        assert_eq!(url_component("pt-BR"), "pt-BR");
    }
}
