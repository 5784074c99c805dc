//! The `tests/data/folder-maps` corpus: every case's folders map to the
//! expected targets, with the expected collisions (format in its README).

use std::path::Path;

use imapmig_folders::{
    DelimiterEscape, GmailPolicy, Hierarchy, ListEntry, ListKind, Listing, MailboxName, Mapper,
    Rules, TargetProfile,
};

struct Case {
    mapper: Mapper,
    expected: Vec<(String, String)>,
    collisions: Vec<(String, String)>,
}

fn header_value(line: &str) -> Option<(&str, &str)> {
    let line = line.split_once("  #").map_or(line, |(l, _)| l);
    let (key, value) = line.split_once(':')?;
    Some((key.trim(), value.trim()))
}

fn read_case(path: &Path) -> Case {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let mut parts = lines.split(|l| *l == "---");
    let header = parts.next().unwrap();
    let body = parts
        .next()
        .unwrap_or_else(|| panic!("{}: no ---", path.display()));
    let tail = parts.next().unwrap_or(&[]);

    let mut get = std::collections::HashMap::new();
    let mut rules = String::new();
    let mut targets = Vec::new();
    for line in header.iter().filter(|l| !l.trim().is_empty()) {
        let (key, value) =
            header_value(line).unwrap_or_else(|| panic!("{}: {line:?}", path.display()));
        match key {
            "rule" => {
                rules.push_str(value);
                rules.push('\n');
            }
            "target" => targets.push(value.to_owned()),
            _ => {
                get.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    let value = |k: &str| get.get(k).cloned().unwrap_or_default();
    let hierarchy = |sep: &str, prefix: &str| {
        Hierarchy::new(Hierarchy::parse_delimiter(sep).unwrap(), prefix).unwrap()
    };
    let source = hierarchy(&value("source-sep"), &value("source-prefix"));
    let target = hierarchy(&value("target-sep"), &value("target-prefix"));
    let target_delim = target.delimiter();
    let mut mapper = Mapper::new(source, target).rules(Rules::parse(&rules).unwrap());
    if let Some(p) = get.get("profile") {
        mapper = mapper.profile(p.parse::<TargetProfile>().unwrap());
    }
    if value("gmail") == "yes" {
        mapper = mapper.gmail(GmailPolicy::default());
    }
    match value("escape").as_str() {
        "" => {}
        "lookalike" => mapper = mapper.escape(DelimiterEscape::Lookalike),
        c => mapper = mapper.escape(DelimiterEscape::Replace(c.chars().next().unwrap())),
    }
    if !targets.is_empty() {
        let mut listing = Listing::new();
        for t in targets {
            let name = MailboxName::from_decoded(&t).unwrap();
            listing.push(ListEntry::new(
                ListKind::List,
                Vec::new(),
                target_delim,
                name,
            ));
        }
        mapper = mapper.target_listing(&listing);
    }
    let expected = body
        .iter()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (s, t) = l
                .split_once('\t')
                .unwrap_or_else(|| panic!("{}: no TAB in {l:?}", path.display()));
            (s.to_owned(), t.to_owned())
        })
        .collect();
    let collisions = tail
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (a, b) = l.split_once(" | ").unwrap();
            (a.to_owned(), b.to_owned())
        })
        .collect();
    Case {
        mapper,
        expected,
        collisions,
    }
}

#[test]
fn folder_map_corpus() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/folder-maps");
    let mut ran = 0;
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "map"))
        .collect();
    paths.sort();
    for path in paths {
        let case = read_case(&path);
        let plan = case
            .mapper
            .plan_names(case.expected.iter().map(|(s, _)| s.as_str()))
            .unwrap();
        let got: Vec<(String, String)> = plan
            .entries()
            .iter()
            .map(|e| {
                let t = e.target().map_or("[SKIP]", |t| t.as_str());
                (e.source.as_str().to_owned(), t.to_owned())
            })
            .collect();
        assert_eq!(got, case.expected, "{}:\n{plan}", path.display());
        let collisions: Vec<(String, String)> = plan
            .collisions()
            .iter()
            .map(|c| (c.first.as_str().to_owned(), c.second.as_str().to_owned()))
            .collect();
        assert_eq!(collisions, case.collisions, "{}", path.display());
        ran += 1;
    }
    assert!(ran >= 8, "only {ran} cases in {}", dir.display());
}
