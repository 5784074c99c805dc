//! LIST/LSUB/NAMESPACE parsing of arbitrary server output (and X-GM-LABELS
//! values): never panics; every parsed name can be printed as an astring
//! and parsed back to the same bytes.
#![no_main]

use imapmig_folders::{Hierarchy, ListEntry, Listing, Namespaces, parse_labels};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Namespaces::parse(data);
    let _ = parse_labels(data);
    if let Ok(listing) = Listing::parse(data) {
        let _ = Hierarchy::detect(&listing);
        for entry in listing.entries() {
            let mut line = b"* LIST () NIL ".to_vec();
            line.extend_from_slice(&entry.name().to_astring());
            let again = ListEntry::parse(&line).expect("a printed astring parses");
            assert_eq!(again.name().wire(), entry.name().wire());
        }
    }
});
