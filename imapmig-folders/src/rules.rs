//! Ordered rename rules in the text form `REGEX -> TARGET`.
//!
//! One rule per line; blank lines and lines whose first non-blank character
//! is `#` are ignored. The regex is matched against the decoded source name
//! as the source server shows it (with its delimiter and prefix), and the
//! first rule that matches wins. The target may use capture groups (`$1`,
//! `${name}`), and `[SKIP]` excludes the folder. The separator is the first
//! `->` with white space (or the line end) on both sides, else the first `->`.
//!
//! A target is a path in the target's personal namespace with `/`
//! separating levels, whatever the target's delimiter: `Archive/2020` is
//! `INBOX.Archive.2020` on a dot/`INBOX.` server.
//!
//! ```
//! use imapmig_folders::{RuleAction, Rules};
//!
//! let rules: Rules = r"
//! ## Courier to Exchange
//! ^INBOX\.Sent$        -> Sent Items
//! ^\[Gmail\]/All Mail$ -> [SKIP]
//! ^INBOX\.Old\.(.*)$   -> Archive/$1
//! ".parse().unwrap();
//! let hit = rules.apply("INBOX.Old.2019").unwrap();
//! assert_eq!((hit.line, hit.action), (5, RuleAction::Rename("Archive/2019".into())));
//! assert_eq!(rules.apply("[Gmail]/All Mail").unwrap().action, RuleAction::Skip);
//! assert!(rules.apply("INBOX").is_none());
//!
//! let err = "^(unclosed -> x".parse::<Rules>().unwrap_err();
//! assert!(err.to_string().starts_with("rules line 1, column 1:"));
//! ```

use std::str::FromStr;

use regex::{Regex, RegexBuilder};

use crate::error::Error;

/// Compiled size limit of one rule's regex, in bytes.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The most rules a file may hold.
pub const MAX_RULES: usize = 10_000;

/// What a matching rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum RuleAction {
    /// Rename to this target path (`/` between levels), captures expanded.
    Rename(String),
    /// `[SKIP]`: do not copy the folder.
    Skip,
}

/// The result of matching a name against [`Rules`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMatch {
    /// 1-based line of the rule that matched.
    pub line: usize,
    /// What it does.
    pub action: RuleAction,
}

#[derive(Debug, Clone)]
struct Rule {
    line: usize,
    regex: Regex,
    target: Option<String>,
}

/// An ordered list of rename rules; see the module docs for the format.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    rules: Vec<Rule>,
}

impl Rules {
    /// No rules: every folder gets the default translation.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a rules file.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut rules = Vec::new();
        for (idx, line) in text.lines().enumerate() {
            let line_no = idx + 1;
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if rules.len() >= MAX_RULES {
                return Err(rule_error(
                    line_no,
                    1,
                    format!("more than {MAX_RULES} rules"),
                ));
            }
            let indent = line.len() - trimmed.len();
            let Some(arrow) = find_arrow(line) else {
                return Err(rule_error(
                    line_no,
                    line.chars().count() + 1,
                    "missing '->' between the regex and the target".to_owned(),
                ));
            };
            let pattern = line[..arrow].trim();
            let target = line[arrow + 2..].trim();
            let col = |byte: usize| line[..byte].chars().count() + 1;
            if pattern.is_empty() {
                return Err(rule_error(line_no, col(indent), "empty regex".to_owned()));
            }
            if target.is_empty() {
                return Err(rule_error(
                    line_no,
                    col(arrow + 2),
                    "empty target".to_owned(),
                ));
            }
            let regex = RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| rule_error(line_no, col(indent), format!("bad regex: {e}")))?;
            let target = if target.eq_ignore_ascii_case("[SKIP]") {
                None
            } else {
                Some(target.to_owned())
            };
            rules.push(Rule {
                line: line_no,
                regex,
                target,
            });
        }
        Ok(Self { rules })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The first rule matching `name` (decoded, as the source shows it).
    pub fn apply(&self, name: &str) -> Option<RuleMatch> {
        self.rules.iter().find_map(|rule| {
            let caps = rule.regex.captures(name)?;
            let action = match &rule.target {
                None => RuleAction::Skip,
                Some(template) => {
                    let mut out = String::new();
                    caps.expand(template, &mut out);
                    RuleAction::Rename(out)
                }
            };
            Some(RuleMatch {
                line: rule.line,
                action,
            })
        })
    }
}

impl FromStr for Rules {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

fn rule_error(line: usize, column: usize, reason: String) -> Error {
    Error::Rule {
        line,
        column,
        reason,
    }
}

/// Byte offset of the separating `->`.
fn find_arrow(line: &str) -> Option<usize> {
    let bytes = line.as_bytes();
    let spaced = line.match_indices("->").map(|(i, _)| i).find(|&i| {
        i > 0
            && bytes[i - 1].is_ascii_whitespace()
            && bytes.get(i + 2).is_none_or(u8::is_ascii_whitespace)
    });
    spaced.or_else(|| line.find("->"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r"^INBOX\.Sent$        -> Sent Items
^INBOX\.Trash$       -> Deleted Items
^\[Gmail\]/Trash$    -> Deleted Items
^\[Gmail\]/All Mail$ -> [SKIP]
";

    #[test]
    fn seed_table() {
        let rules = Rules::parse(SEED).unwrap();
        assert_eq!(rules.len(), 4);
        let cases: &[(&str, Option<(usize, RuleAction)>)] = &[
            (
                "INBOX.Sent",
                Some((1, RuleAction::Rename("Sent Items".into()))),
            ),
            (
                "INBOX.Trash",
                Some((2, RuleAction::Rename("Deleted Items".into()))),
            ),
            (
                "[Gmail]/Trash",
                Some((3, RuleAction::Rename("Deleted Items".into()))),
            ),
            ("[Gmail]/All Mail", Some((4, RuleAction::Skip))),
            ("INBOX.Sent.Old", None),
            ("INBOX", None),
        ];
        for (name, want) in cases {
            let got = rules.apply(name).map(|m| (m.line, m.action));
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn first_match_wins_and_captures() {
        let rules = Rules::parse("^a(.*)$ -> x/$1\n^ab$ -> never\n(?P<y>\\d+) -> Y${y}\n").unwrap();
        assert_eq!(
            rules.apply("abc").unwrap().action,
            RuleAction::Rename("x/bc".into())
        );
        assert_eq!(rules.apply("ab").unwrap().line, 1);
        assert_eq!(
            rules.apply("z42").unwrap().action,
            RuleAction::Rename("Y42".into())
        );
    }

    #[test]
    fn errors_table() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("^ok$ -> x\n^(bad -> y", 2, 1, "bad regex"),
            ("# c\n\n  ^x$ Sent", 3, 11, "missing '->'"),
            ("x -> ", 1, 5, "empty target"),
            ("   -> y", 1, 4, "empty regex"),
            ("é(( -> y", 1, 1, "bad regex"),
        ];
        for (text, line, column, reason) in cases {
            match Rules::parse(text) {
                Err(Error::Rule {
                    line: l,
                    column: c,
                    reason: r,
                }) => {
                    assert_eq!((l, c), (*line, *column), "{text:?}");
                    assert!(r.starts_with(reason), "{r}");
                }
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn arrow_inside_regex() {
        let rules = Rules::parse("^a->b$ -> c").unwrap();
        assert_eq!(
            rules.apply("a->b").unwrap().action,
            RuleAction::Rename("c".into())
        );
        let rules = Rules::parse("^a$->b").unwrap();
        assert_eq!(
            rules.apply("a").unwrap().action,
            RuleAction::Rename("b".into())
        );
    }

    #[test]
    fn size_limit_refuses_huge_regex() {
        let err = Rules::parse(r"\w{1000}{1000} -> x").unwrap_err();
        assert!(err.to_string().contains("bad regex"), "{err}");
    }
}
