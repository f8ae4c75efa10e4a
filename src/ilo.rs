//! The ILO's conventions by name: the table in `data/ilo-conventions.tsv`, bundled into the
//! binary and parsed once, so a reader sees "C087 — Freedom of Association …, 1948" and not a
//! bare code. No I/O: the wire value (the code a call cites) is never changed, only described.

use std::fmt;
use std::sync::LazyLock;

/// The bundled table; its header names the sources of every row.
const TABLE_TEXT: &str = include_str!("../data/ilo-conventions.tsv");

/// Where the table comes from, for messages that tell a reader why a code is unknown.
pub const TABLE_SOURCE: &str = "data/ilo-conventions.tsv, from NORMLEX and the pages it names";

/// The highest convention number the ILO has adopted (source S9 in the table: "contains 191").
/// A higher number, or 0, is no convention at all; a lower one may exist and be missing here.
pub const HIGHEST_NUMBER: u16 = 191;

/// The columns the table must start with, in this order.
const HEADER: &str = "code\tyear\ttitle\tstatus\ttype\tsources";

/// Where a convention stands in the ILO's own classification, as a source gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Ready for ratification and promoted by the ILO.
    UpToDate,
    /// Superseded; no longer promoted.
    Outdated,
    /// Ratifications no longer sought, reports no longer asked for regularly.
    Shelved,
    /// Taken back by the Conference before it came into force anywhere.
    Withdrawn,
    /// Ended by the Conference after it had been in force.
    Abrogated,
}

impl Status {
    fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "up to date" => Status::UpToDate,
            "outdated" => Status::Outdated,
            "shelved" => Status::Shelved,
            "withdrawn" => Status::Withdrawn,
            "abrogated" => Status::Abrogated,
            _ => return None,
        })
    }

    /// The word the table and the sources use.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::UpToDate => "up to date",
            Status::Outdated => "outdated",
            Status::Shelved => "shelved",
            Status::Withdrawn => "withdrawn",
            Status::Abrogated => "abrogated",
        }
    }
}

/// One ILO convention as the bundled table names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Convention {
    /// The code as the wire carries it: "C087".
    pub code: &'static str,
    /// The number alone: 87.
    pub number: u16,
    /// The full title, as the source writes it (most end with the year of adoption).
    pub title: &'static str,
    /// The year the International Labour Conference adopted it.
    pub year: u16,
    /// Its status, when a source read gives one.
    pub status: Option<Status>,
    /// One of the ILO's fundamental conventions.
    pub fundamental: bool,
    /// One of the ILO's governance (priority) conventions.
    pub governance: bool,
}

impl Convention {
    /// Its page on NORMLEX, the ILO's database of labour standards.
    pub fn link(&self) -> String {
        format!(
            "https://normlex.ilo.org/dyn/nrmlx_en/f?p=NORMLEXPUB:12100:0::NO::P12100_ILO_CODE:{}",
            self.code
        )
    }

    /// "C087 — Freedom of Association and Protection of the Right to Organise Convention,
    /// 1948": the year once, whether or not the title already ends with it.
    pub fn describe(&self) -> String {
        if self.title.ends_with(&format!(", {}", self.year)) {
            format!("{} — {}", self.code, self.title)
        } else {
            format!("{} — {}, {}", self.code, self.title, self.year)
        }
    }
}

/// Why the bundled table could not be read; a unit test keeps this from ever shipping.
#[derive(Debug, thiserror::Error)]
#[error("data/ilo-conventions.tsv line {line}: {problem}")]
pub struct TableError {
    /// The line, counted from 1.
    pub line: usize,
    /// What is wrong with it.
    pub problem: String,
}

static TABLE: LazyLock<Vec<Convention>> = LazyLock::new(|| {
    // The text is compiled in and `tests::the_bundled_table_parses` parses it, so a failure
    // here is a defect of the build, not of anything a node meets at run time.
    parse(TABLE_TEXT).expect("the bundled ILO conventions table parses")
});

/// Every convention in the table, ordered by number.
pub fn all() -> &'static [Convention] {
    &TABLE
}

/// The convention `code` names: "C087", "C87", "c087", "087" and "87" are the same.
pub fn convention(code: &str) -> Option<&'static Convention> {
    let number = number_of(code)?;
    let table = all();
    table
        .binary_search_by_key(&number, |c| c.number)
        .ok()
        .map(|i| &table[i])
}

/// A code for people: "C087 — title" when the table names it, else the code as given.
pub fn describe(code: &str) -> String {
    convention(code).map_or_else(|| code.trim().to_string(), Convention::describe)
}

/// Several codes described, in order, joined with "; ".
pub fn describe_all(codes: &[String]) -> String {
    codes
        .iter()
        .map(|c| describe(c))
        .collect::<Vec<_>>()
        .join("; ")
}

/// What the table can say of a code a call cites, when it cannot name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unnamed {
    /// No convention has this number (0, or above [`HIGHEST_NUMBER`]).
    NotAConvention(String),
    /// A convention number the ILO has used, but missing from this node's table.
    NotInTable(String),
}

impl fmt::Display for Unnamed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unnamed::NotAConvention(code) => write!(
                f,
                "{code} is not an ILO convention (the ILO has adopted C001 to C{HIGHEST_NUMBER}; \
                 source: {TABLE_SOURCE})"
            ),
            Unnamed::NotInTable(code) => write!(
                f,
                "{code} is not among the {} ILO conventions this node's table names \
                 (source: {TABLE_SOURCE}); check the number",
                all().len()
            ),
        }
    }
}

/// Whether a cited code is a convention the table cannot name. Protocols ("P029") and codes
/// that are not convention codes at all are not judged here (validation refuses the latter).
pub fn unnamed(code: &str) -> Option<Unnamed> {
    let trimmed = code.trim();
    if trimmed.starts_with(['P', 'p']) {
        return None;
    }
    let number = number_of(trimmed)?;
    if convention(trimmed).is_some() {
        None
    } else if number == 0 || number > HIGHEST_NUMBER {
        Some(Unnamed::NotAConvention(trimmed.to_string()))
    } else {
        Some(Unnamed::NotInTable(trimmed.to_string()))
    }
}

/// The number in "C087", "c87", "087": an optional C, then one to four digits.
fn number_of(code: &str) -> Option<u16> {
    let code = code.trim();
    let digits = code.strip_prefix(['C', 'c']).unwrap_or(code);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Reads the table: `#` lines are notes, then the header, then one row per convention with
/// codes strictly rising (so unique and ordered).
fn parse(text: &'static str) -> Result<Vec<Convention>, TableError> {
    let mut rows = Vec::new();
    let mut header_seen = false;
    for (index, line) in text.lines().enumerate() {
        let at = index + 1;
        let fail = |problem: String| TableError { line: at, problem };
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        if !header_seen {
            if line != HEADER {
                return Err(fail(format!("the header should be {HEADER:?}")));
            }
            header_seen = true;
            continue;
        }
        let row = parse_row(line).map_err(fail)?;
        if let Some(last) = rows.last().map(|c: &Convention| c.number)
            && row.number <= last
        {
            return Err(fail(format!(
                "{} comes after C{last:03}; rows must be unique and ordered by number",
                row.code
            )));
        }
        rows.push(row);
    }
    if !header_seen {
        return Err(TableError {
            line: 0,
            problem: "no header line".into(),
        });
    }
    Ok(rows)
}

fn parse_row(line: &'static str) -> Result<Convention, String> {
    let fields: Vec<&'static str> = line.split('\t').collect();
    let [code, year, title, status, kind, sources] = fields[..] else {
        return Err(format!(
            "6 tab-separated fields expected, found {}",
            fields.len()
        ));
    };
    let shaped =
        code.len() == 4 && code.starts_with('C') && code[1..].bytes().all(|b| b.is_ascii_digit());
    let number = number_of(code)
        .filter(|n| shaped && (1..=HIGHEST_NUMBER).contains(n))
        .ok_or_else(|| format!("code {code:?} should be C001 to C{HIGHEST_NUMBER}"))?;
    let year: u16 = year
        .parse()
        .ok()
        .filter(|y| (1919..=2100).contains(y))
        .ok_or_else(|| format!("year {year:?} should be a year since 1919"))?;
    if title.trim().is_empty() || title != title.trim() {
        return Err(format!(
            "the title of {code} is empty or has spaces around it"
        ));
    }
    let status = match status {
        "" => None,
        s => Some(Status::parse(s).ok_or_else(|| {
            format!("status {s:?} should be up to date, outdated, shelved, withdrawn or abrogated")
        })?),
    };
    let (fundamental, governance) = match kind {
        "fundamental" => (true, false),
        "governance" => (false, true),
        "technical" => (false, false),
        other => {
            return Err(format!(
                "type {other:?} should be fundamental, governance or technical"
            ));
        }
    };
    if sources.trim().is_empty() {
        return Err(format!("{code} names no source"));
    }
    Ok(Convention {
        code,
        number,
        title,
        year,
        status,
        fundamental,
        governance,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER_LINE: &str = "code\tyear\ttitle\tstatus\ttype\tsources\n";

    fn table(rows: &str) -> &'static str {
        Box::leak(format!("# a note\n{HEADER_LINE}{rows}").into_boxed_str())
    }

    #[test]
    fn the_bundled_table_parses() {
        let rows = parse(TABLE_TEXT).unwrap();
        assert_eq!(rows.len(), all().len());
        assert!(rows.len() >= 14);
    }

    #[test]
    fn codes_are_unique_and_ordered_and_match_their_number() {
        let rows = all();
        for pair in rows.windows(2) {
            assert!(pair[0].number < pair[1].number, "{pair:?}");
        }
        for c in rows {
            assert_eq!(c.code, format!("C{:03}", c.number));
            assert!(c.title.ends_with(&format!(", {}", c.year)), "{c:?}");
        }
    }

    #[test]
    fn the_fourteen_fundamental_and_governance_conventions_carry_their_exact_titles() {
        let fundamental = [
            ("C029", "Forced Labour Convention, 1930"),
            (
                "C087",
                "Freedom of Association and Protection of the Right to Organise Convention, 1948",
            ),
            (
                "C098",
                "Right to Organise and Collective Bargaining Convention, 1949",
            ),
            ("C100", "Equal Remuneration Convention, 1951"),
            ("C105", "Abolition of Forced Labour Convention, 1957"),
            (
                "C111",
                "Discrimination (Employment and Occupation) Convention, 1958",
            ),
            ("C138", "Minimum Age Convention, 1973"),
            ("C155", "Occupational Safety and Health Convention, 1981"),
            ("C182", "Worst Forms of Child Labour Convention, 1999"),
            (
                "C187",
                "Promotional Framework for Occupational Safety and Health Convention, 2006",
            ),
        ];
        let governance = [
            ("C081", "Labour Inspection Convention, 1947"),
            ("C122", "Employment Policy Convention, 1964"),
            ("C129", "Labour Inspection (Agriculture) Convention, 1969"),
            (
                "C144",
                "Tripartite Consultation (International Labour Standards) Convention, 1976",
            ),
        ];
        for (code, title) in fundamental {
            let c = convention(code).unwrap();
            assert_eq!((c.title, c.fundamental, c.governance), (title, true, false));
        }
        for (code, title) in governance {
            let c = convention(code).unwrap();
            assert_eq!((c.title, c.fundamental, c.governance), (title, false, true));
        }
        assert_eq!(all().iter().filter(|c| c.fundamental).count(), 10);
        assert_eq!(all().iter().filter(|c| c.governance).count(), 4);
    }

    #[test]
    fn a_code_is_found_however_it_is_written() {
        for spelling in ["C087", "C87", "c087", "087", "87", " C087 "] {
            assert_eq!(
                convention(spelling).map(|c| c.code),
                Some("C087"),
                "{spelling}"
            );
        }
        for not_a_code in ["", "C", "Cx87", "P087", "C87a", "C00087"] {
            assert_eq!(convention(not_a_code), None, "{not_a_code}");
        }
    }

    #[test]
    fn describe_names_the_convention_with_its_year_once_or_falls_back_to_the_code() {
        assert_eq!(
            describe("C087"),
            "C087 — Freedom of Association and Protection of the Right to Organise \
             Convention, 1948"
        );
        assert_eq!(describe("c98"), describe("C098"));
        assert_eq!(describe("C999"), "C999");
        assert_eq!(describe("P029"), "P029");
        let untitled_year = Convention {
            code: "C001",
            number: 1,
            title: "A Title Without Its Year",
            year: 1919,
            status: None,
            fundamental: false,
            governance: false,
        };
        assert_eq!(
            untitled_year.describe(),
            "C001 — A Title Without Its Year, 1919"
        );
        assert_eq!(
            describe_all(&["C029".into(), "C999".into()]),
            "C029 — Forced Labour Convention, 1930; C999"
        );
    }

    #[test]
    fn the_link_is_the_normlex_page_of_the_code() {
        assert_eq!(
            convention("C87").unwrap().link(),
            "https://normlex.ilo.org/dyn/nrmlx_en/f?p=NORMLEXPUB:12100:0::NO::P12100_ILO_CODE:C087"
        );
    }

    #[test]
    fn statuses_come_from_the_table() {
        assert_eq!(convention("C004").unwrap().status, Some(Status::Abrogated));
        assert_eq!(convention("C037").unwrap().status, Some(Status::Shelved));
        assert_eq!(convention("C087").unwrap().status, None);
    }

    #[test]
    fn unnamed_tells_a_missing_number_from_no_convention_at_all() {
        assert_eq!(unnamed("C087"), None);
        assert_eq!(unnamed("P029"), None);
        assert_eq!(
            unnamed("C999"),
            Some(Unnamed::NotAConvention("C999".into()))
        );
        assert_eq!(
            unnamed("C000"),
            Some(Unnamed::NotAConvention("C000".into()))
        );
        // C028 exists, but no source read gives its whole title.
        assert_eq!(unnamed("C028"), Some(Unnamed::NotInTable("C028".into())));
        let text = unnamed("C999").unwrap().to_string();
        assert!(text.starts_with("C999 is not an ILO convention"), "{text}");
        assert!(text.contains("data/ilo-conventions.tsv"), "{text}");
    }

    #[test]
    fn a_malformed_row_fails_the_parse_and_names_its_line() {
        let good = "C087\t1948\tFreedom of Association Convention, 1948\t\tfundamental\tS1\n";
        assert_eq!(parse(table(good)).unwrap().len(), 1);
        let bad = [
            (
                "C087\t1948\tA title, 1948\t\tfundamental\n",
                "6 tab-separated",
            ),
            ("C87\t1948\tA title, 1948\t\tfundamental\tS1\n", "code"),
            ("C192\t2030\tA title, 2030\t\ttechnical\tS1\n", "code"),
            ("C087\t48\tA title, 1948\t\tfundamental\tS1\n", "year"),
            ("C087\t1948\t\t\tfundamental\tS1\n", "title"),
            (
                "C087\t1948\tA title, 1948\tvalid\tfundamental\tS1\n",
                "status",
            ),
            ("C087\t1948\tA title, 1948\t\tcore\tS1\n", "type"),
            ("C087\t1948\tA title, 1948\t\tfundamental\t\n", "source"),
        ];
        for (row, word) in bad {
            let err = parse(table(row)).unwrap_err();
            assert_eq!(err.line, 3, "{row:?}");
            assert!(err.problem.contains(word), "{row:?}: {err}");
        }
        let unordered =
            format!("{good}C029\t1930\tForced Labour Convention, 1930\t\tfundamental\tS1\n");
        let err = parse(table(&unordered)).unwrap_err();
        assert_eq!(err.line, 4);
        let twice = format!("{good}{good}");
        assert!(parse(table(&twice)).unwrap_err().problem.contains("unique"));
        assert!(parse("C087\t1948\tA, 1948\t\ttechnical\tS1\n").is_err());
    }
}
