//! The CLI's `imap[s]://` URL parser (`Endpoint: FromStr`) on arbitrary text: never panics; a
//! parsed URL's display form parses again to the same display form; an error's text never
//! holds the URL's `user:password@` part (the parser redacts it).
#![no_main]

use imapmig_cli::fuzzing::parse_imap_url;
use libfuzzer_sys::fuzz_target;

/// The `user:password@` of `SCHEME://user:password@host…` as written in `input`, when the
/// password is not empty: the authority ends at the first `/`, `?` or `#`, its user info at
/// its last `@`.
fn user_and_password(input: &str) -> Option<&str> {
    let start = input.find("://")? + 3;
    let rest = &input[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let (_, password) = authority[..at].split_once(':')?;
    (!password.is_empty() && password != "REDACTED").then(|| &rest[..=at])
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match parse_imap_url(input) {
        Ok(display) => {
            assert!(display.starts_with("imap://") || display.starts_with("imaps://"));
            let again = parse_imap_url(&display);
            assert_eq!(again.as_deref(), Ok(display.as_str()), "{input:?}");
        }
        Err(text) => {
            if let Some(secret) = user_and_password(input) {
                assert!(!text.contains(secret), "{input:?} -> {text:?}");
            }
        }
    }
});
