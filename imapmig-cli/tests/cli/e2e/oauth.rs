//! Bearer-token logins against a real server: testkit's Dovecot offers `XOAUTH2` and
//! `OAUTHBEARER` and checks the token against its passdb like a password, so the token
//! `secret` logs in and any other is refused.

use super::*;

/// The migrate command with tokens only (no passwords in the environment).
fn token_command(
    src: &Dovecot,
    dst: &Dovecot,
    state: &Path,
    source_token: &str,
    target_token: &str,
) -> Command {
    let mut cmd = migrate_command_urls(
        &format!("{}?auth=xoauth2", url(src)),
        &format!("{}?auth=oauthbearer", url(dst)),
        state,
        &[],
    );
    cmd.env_remove("IMAPMIG_SOURCE_PASSWORD")
        .env_remove("IMAPMIG_TARGET_PASSWORD")
        .env("IMAPMIG_SOURCE_TOKEN", source_token)
        .env("IMAPMIG_TARGET_TOKEN", target_token);
    cmd
}

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn xoauth2_source_and_oauthbearer_target_copy_everything() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let inbox = messages("oauth-inbox", 12);
    let work = messages("oauth-work", 5);
    seed(&src, "INBOX", &inbox);
    seed(&src, "Work", &work);
    let state = tempfile::tempdir().unwrap();

    let out = token_command(&src, &dst, state.path(), "secret", "secret")
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (17, 0, 0, 0));
    assert_holds_exactly(&dst, "INBOX", &inbox);
    assert_holds_exactly(&dst, "Work", &work);

    // Tokens from files work where the environment has none; nothing is left to copy.
    let src_token = state.path().join("src-token");
    let dst_token = state.path().join("dst-token");
    std::fs::write(&src_token, "secret\n").unwrap();
    std::fs::write(&dst_token, "secret\n").unwrap();
    let out = token_command(&src, &dst, state.path(), "", "")
        .env_remove("IMAPMIG_SOURCE_TOKEN")
        .env_remove("IMAPMIG_TARGET_TOKEN")
        .args(["--source-token-file", src_token.to_str().unwrap()])
        .args(["--target-token-file", dst_token.to_str().unwrap()])
        .output()
        .unwrap();
    assert_exit(&out, 0);
    assert_eq!(totals(&out), (0, 17, 0, 0));
    assert_holds_exactly(&dst, "INBOX", &inbox);
}

#[test]
fn a_wrong_token_on_either_side_exits_4_without_showing_it() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    seed(&src, "INBOX", &messages("oauth-wrong", 3));
    let state = tempfile::tempdir().unwrap();
    let wrong = "ya29.wrong-bearer-token";

    for (source_token, target_token) in [(wrong, "secret"), ("secret", wrong)] {
        let out = token_command(&src, &dst, state.path(), source_token, target_token)
            .output()
            .unwrap();
        assert_exit(&out, 4);
        let all = all_output(&out);
        assert!(all.contains("login refused"), "{all}");
        assert!(!all.contains(wrong), "the token leaked: {all}");
        assert!(dst.messages("INBOX").is_empty(), "nothing may be copied");
    }
}
