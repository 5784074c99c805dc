//! The LIST and LSUB server lines of the shared IMAP traces
//! (`imap-traces/`, RFC 3501 examples) all parse, with the names and
//! delimiters the RFC shows.

use imapmig_folders::{Attribute, ListEntry, ListKind};

use crate::conformance::conformance_dir;

#[test]
fn every_list_and_lsub_server_line_parses() {
    let Some(dir) = conformance_dir() else { return };
    let traces = dir.join("imap-traces");
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(traces.join("INDEX.json")).unwrap()).unwrap();
    let mut ran = 0;
    for file in index["files"].as_object().unwrap().keys() {
        let text = std::fs::read(traces.join(format!("{file}.txt"))).unwrap();
        for line in text.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let server = line.strip_prefix(b"S: ").unwrap_or(line);
            let is_list = server.starts_with(b"* LIST ") || server.starts_with(b"* LSUB ");
            if !is_list {
                continue;
            }
            let entry = ListEntry::parse(server)
                .unwrap_or_else(|e| panic!("{file}: {:?}: {e}", String::from_utf8_lossy(server)));
            assert_eq!(
                entry.kind() == ListKind::Lsub,
                server.starts_with(b"* LSUB ")
            );
            assert!(entry.delimiter().is_some());
            ran += 1;
        }
    }
    assert!(ran >= 30, "only {ran} LIST/LSUB lines found");
}

#[test]
fn rfc_examples_read_as_written() {
    let Some(dir) = conformance_dir() else { return };
    let text = std::fs::read_to_string(dir.join("imap-traces/test_from_list.txt")).unwrap();
    let entries: Vec<ListEntry> = text
        .lines()
        .filter_map(|l| l.strip_prefix("S: "))
        .filter(|l| l.starts_with("* LIST"))
        .map(|l| ListEntry::parse(l.as_bytes()).unwrap())
        .collect();
    let got: Vec<(&str, Option<char>, bool)> = entries
        .iter()
        .map(|e| {
            (
                e.name().as_str(),
                e.delimiter(),
                e.attributes().contains(&Attribute::NoSelect),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("", Some('/'), true),
            ("#news.", Some('.'), true),
            ("/", Some('/'), true),
            ("~/Mail/foo", Some('/'), true),
            ("~/Mail/meetings", Some('/'), false),
        ]
    );
}
