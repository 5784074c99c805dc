//! The CLI's `imap[s]://` URL parser (`Endpoint: FromStr`) on arbitrary text: never panics; a
//! parsed URL's display form parses again to the same display form; an error's text never
//! holds the URL's `user:password@` part (the parser redacts it).
#![no_main]

use imapmig_cli::fuzzing::parse_imap_url;
use libfuzzer_sys::fuzz_target;

/// The `user:password@` of `SCHEME://user:password@host…` as the URL grammar reads `input`
/// (tabs and line breaks dropped, leading and trailing controls and spaces trimmed), when the
/// password is not empty: the authority ends at the first `/`, `?` or `#`, its user info at
/// its last `@`.
fn user_and_password(input: &str) -> Option<String> {
    let cleaned: String = input
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let cleaned = cleaned.trim_matches(|c: char| c <= ' ');
    let (scheme, rest) = cleaned.split_once("://")?;
    let mut chars = scheme.chars();
    if !chars.next()?.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let at = authority.rfind('@')?;
    let (_, password) = authority[..at].split_once(':')?;
    let secret = &rest[..=at];
    // Checked only where the text appears once: a copy elsewhere (in the path, say) may be
    // echoed without being the password.
    (!password.is_empty() && password != "REDACTED" && cleaned.matches(secret).count() == 1)
        .then(|| secret.to_owned())
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
                assert!(!text.contains(&secret), "{input:?} -> {text:?}");
            }
        }
    }
});
