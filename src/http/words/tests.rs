//! The shipped language files: they parse, they have the same keys and values as English,
//! plurals follow each language, country names come from CLDR.

use std::collections::{BTreeMap, BTreeSet};

use fluent_syntax::ast::{Entry, Expression, InlineExpression, Pattern, PatternElement};

use super::*;

/// The variables a pattern names, select expressions' variants included.
fn variables(pattern: &Pattern<&str>, into: &mut BTreeSet<String>) {
    fn inline(e: &InlineExpression<&str>, into: &mut BTreeSet<String>) {
        match e {
            InlineExpression::VariableReference { id } => {
                into.insert(id.name.to_string());
            }
            InlineExpression::Placeable { expression } => expression_vars(expression, into),
            _ => {}
        }
    }
    fn expression_vars(e: &Expression<&str>, into: &mut BTreeSet<String>) {
        match e {
            Expression::Inline(i) => inline(i, into),
            Expression::Select { selector, variants } => {
                inline(selector, into);
                for v in variants {
                    variables(&v.value, into);
                }
            }
        }
    }
    for element in &pattern.elements {
        if let PatternElement::Placeable { expression } = element {
            expression_vars(expression, into);
        }
    }
}

/// Each message of a file with the variables it names; a key defined twice fails.
fn messages(tag: &str, source: &str) -> BTreeMap<String, BTreeSet<String>> {
    let (resource, errors) = parse(source);
    assert!(
        errors.is_empty(),
        "i18n/{tag}.ftl does not parse: {errors:?}"
    );
    let mut out = BTreeMap::new();
    for entry in resource.entries() {
        match entry {
            Entry::Message(m) => {
                let mut vars = BTreeSet::new();
                let value = m.value.as_ref();
                assert!(value.is_some(), "{tag}: {} has no text", m.id.name);
                if let Some(p) = value {
                    variables(p, &mut vars);
                }
                let before = out.insert(m.id.name.to_string(), vars);
                assert!(before.is_none(), "{tag}: {} is defined twice", m.id.name);
            }
            Entry::Junk { content } => panic!("{tag}: junk in the file: {content}"),
            _ => {}
        }
    }
    out
}

#[test]
fn every_language_has_every_english_key_with_its_values_and_no_other() {
    let english = messages("en", FILES[0].2);
    assert!(english.len() > 100, "{} keys", english.len());
    for (tag, _, source) in FILES {
        let theirs = messages(tag, source);
        let missing: Vec<_> = english
            .keys()
            .filter(|k| !theirs.contains_key(*k))
            .collect();
        let extra: Vec<_> = theirs
            .keys()
            .filter(|k| !english.contains_key(*k))
            .collect();
        assert!(missing.is_empty(), "i18n/{tag}.ftl lacks {missing:?}");
        assert!(
            extra.is_empty(),
            "i18n/{tag}.ftl has keys en.ftl lacks: {extra:?}"
        );
        for (key, vars) in &theirs {
            // A translation may leave out a number its grammar does not need ("one day").
            let wanted = &english[key];
            let unknown: Vec<_> = vars.difference(wanted).collect();
            assert!(
                unknown.is_empty(),
                "{tag}: {key} names {unknown:?}, unknown in en.ftl"
            );
            let dropped: Vec<_> = wanted
                .difference(vars)
                .filter(|v| v.as_str() != "count" && v.as_str() != "total")
                .collect();
            assert!(dropped.is_empty(), "{tag}: {key} leaves out {dropped:?}");
        }
    }
}

#[test]
fn languages_are_chosen_as_content_languages_are() {
    let prefs = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(Words::choose(&prefs(&["fr-ca"])).tag(), "fr");
    assert_eq!(Words::choose(&prefs(&["de", "ar-eg"])).tag(), "ar");
    assert_eq!(Words::choose(&prefs(&["de"])).tag(), "en");
    assert_eq!(Words::choose(&[]).tag(), "en");
    assert_eq!(Words::choose(&prefs(&["az-latn-az"])).tag(), "az");
    assert_eq!(Words::choose(&prefs(&["ar"])).dir(), "rtl");
    assert_eq!(Words::choose(&prefs(&["ru"])).dir(), "ltr");
    assert_eq!(languages().count(), FILES.len());
}

fn words(tag: &str) -> &'static Words {
    Words::of(tag).unwrap()
}

#[test]
fn plurals_follow_each_language() {
    let ago =
        |tag: &str, days: u64| words(tag).relative(Timestamp(0), Timestamp(days * 86_400_000));
    assert_eq!(ago("en", 2), "2 days ago");
    assert_eq!(ago("fr", 3), "il y a 3 jours");
    assert_eq!(ago("ru", 2), "2 дня назад");
    assert_eq!(ago("ru", 5), "5 дней назад");
    assert_eq!(ago("ru", 21), "21 день назад");
    assert_eq!(ago("ar", 2), "قبل يومين");
    assert_eq!(ago("ar", 3), "قبل 3 أيام");
    assert_eq!(ago("ar", 11), "قبل 11 يومًا");
    assert_eq!(ago("ar", 100), "قبل 100 يوم");
    assert_eq!(ago("az", 3), "3 gün əvvəl");
    let ahead = |tag: &str, s: u64| words(tag).relative(Timestamp(s * 1_000), Timestamp(0));
    assert_eq!(ahead("en", 59), "just now");
    assert_eq!(ahead("en", 60), "in 1 minute");
    assert_eq!(ahead("en", 3 * 3_600 + 59), "in 3 hours");
    assert_eq!(ahead("es", 47 * 3_600), "dentro de 47 horas");
    assert_eq!(ahead("pt", 2 * 86_400), "daqui a 2 dias");
    assert_eq!(ahead("tr", 3 * 86_400), "3 gün sonra");
    let none = |tag: &str| words(tag).html("endorsements", &[("count", Arg::Num(0))]);
    assert_eq!(none("en"), "No endorsements yet");
    assert_eq!(none("ar"), "لا تأييد بعد");
    assert_eq!(
        words("ru").html("endorsements", &[("count", Arg::Num(3))]),
        "3 поддержки"
    );
}

#[test]
fn country_names_come_from_cldr_in_the_readers_language() {
    assert_eq!(words("en").country("AZ"), "Azerbaijan");
    assert_eq!(words("fr").country("AZ"), "Azerbaïdjan");
    assert_eq!(words("ar").country("AZ"), "أذربيجان");
    assert_eq!(words("az").country("AZ"), "Azərbaycan");
    assert_eq!(words("ru").country("GE"), "Грузия");
    assert_eq!(words("fr").country("XY"), "XY");
    assert_eq!(words("fr").country("not a code"), "not a code");
    assert_eq!(words("fr").language("en"), "anglais");
    assert_eq!(words("ru").language("az-Latn"), "азербайджанский");
    assert_eq!(words("en").language("qya"), "qya");
}

#[test]
fn values_are_escaped_unless_marked_html() {
    let en = words("en");
    assert_eq!(
        en.html("item-by", &[("name", Arg::Text("<b>Union & Co</b>"))]),
        "By &lt;b&gt;Union &amp; Co&lt;/b&gt;"
    );
    assert_eq!(
        en.html("item-by", &[("name", Arg::Html("<strong>Union</strong>"))]),
        "By <strong>Union</strong>"
    );
    // French apostrophes are text, escaped as such.
    assert!(words("fr").t("all-current").contains("Toutes les alertes"));
    // A key no file has is shown as the key (the test above keeps the files whole).
    assert_eq!(en.t("no-such-key"), "no-such-key");
}
