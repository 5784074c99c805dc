//! Large messages (issue 11, part 7): three 100 MB messages copied byte for byte, with the
//! migrator's peak resident memory at most 1.5 × 100 MB + 64 MB. The test never holds more
//! than one message (seeding) or 8 MiB of one (checking) in its own memory.

use std::hash::Hasher;
use std::time::Duration;

use super::*;

/// Bytes per message.
const SIZE: usize = 100_000_000;
/// Peak RSS allowed for the migrator, in KiB: 1.5 × 100 MB + 64 MB.
const PEAK_LIMIT_KIB: u64 = (SIZE as u64 * 3 / 2 + 64_000_000) / 1024;
/// Bytes per partial FETCH when checking the target.
const PIECE: usize = 8 << 20;

/// Message `k`: headers, then CRLF lines of 76 pseudo-random letters up to exactly `SIZE`.
fn big_message(k: u64) -> Vec<u8> {
    let mut m = format!(
        "From: Big <big@example.com>\r\nTo: test@example.org\r\nSubject: large {k}\r\n\
         Message-ID: <large.{k}@example.com>\r\nDate: Mon, 01 Jan 2024 00:00:00 +0000\r\n\r\n"
    )
    .into_bytes();
    m.reserve(SIZE - m.len());
    let mut x = 0x2545_f491_4f6c_dd1d_u64 ^ (k + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    while m.len() < SIZE {
        let room = SIZE - m.len();
        if room <= 2 {
            m.extend(std::iter::repeat_n(b'.', room));
            break;
        }
        let n = (room - 2).min(76);
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m.push(b'a' + (x >> 59) as u8 % 26);
        }
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// A hash of `bytes` taken piece by piece, as [`target_digests`] reads them.
fn digest(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for piece in bytes.chunks(PIECE) {
        h.write(piece);
    }
    h.finish()
}

/// (size, hash) of every message in the target folder, read over IMAP in 8 MiB pieces.
fn target_digests(d: &Dovecot, folder: &str) -> Vec<(usize, u64)> {
    let mut imap = d.session();
    imap.command(&format!("EXAMINE {}", testkit::quote_mailbox(folder)));
    let sizes =
        String::from_utf8_lossy(&imap.command("UID FETCH 1:* (UID RFC822.SIZE)")).into_owned();
    let mut out = Vec::new();
    for line in sizes.lines().filter(|l| l.starts_with("* ")) {
        let words: Vec<&str> = line
            .split([' ', '(', ')'])
            .filter(|w| !w.is_empty())
            .collect();
        let field = |name: &str| -> usize {
            let at = words.iter().position(|w| *w == name).unwrap();
            words[at + 1].parse().unwrap()
        };
        let (uid, size) = (field("UID"), field("RFC822.SIZE"));
        let mut h = std::collections::hash_map::DefaultHasher::new();
        let mut offset = 0;
        while offset < size {
            let reply = imap.command(&format!("UID FETCH {uid} (BODY.PEEK[]<{offset}.{PIECE}>)"));
            let open = reply.iter().position(|&b| b == b'{').unwrap();
            let close = open + reply[open..].iter().position(|&b| b == b'}').unwrap();
            let n: usize = std::str::from_utf8(&reply[open + 1..close])
                .unwrap()
                .parse()
                .unwrap();
            let data = &reply[close + 3..close + 3 + n];
            h.write(data);
            offset += n;
            assert!(n > 0, "empty piece at {offset} of {size}");
        }
        out.push((size, h.finish()));
    }
    out.sort_unstable();
    out
}

/// The migrator's peak RSS in KiB as `/usr/bin/time -v` reports it.
fn max_rss_kib(stderr: &str) -> Option<u64> {
    stderr
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn three_100_mb_messages_copied_byte_for_byte_within_the_memory_bound() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), server(Layout::Slash)) else {
        return;
    };
    let started = std::time::Instant::now();
    let mut expected = Vec::new();
    for k in 0..3 {
        let m = big_message(k);
        assert_eq!(m.len(), SIZE);
        expected.push((m.len(), digest(&m)));
        src.seed("INBOX", &[&m]);
    }
    expected.sort_unstable();
    let seeded = started.elapsed();
    let state = tempfile::tempdir().unwrap();
    let plain = migrate_command(&src, &dst, state.path(), &["--io-timeout", "60"]);
    let timed = Path::new("/usr/bin/time").exists();
    let out = if timed {
        // GNU time runs the same command and reports its peak RSS on stderr.
        let mut cmd = Command::new("/usr/bin/time");
        cmd.arg("-v")
            .arg(plain.get_program())
            .args(plain.get_args());
        for (key, value) in plain.get_envs() {
            match value {
                Some(v) => cmd.env(key, v),
                None => cmd.env_remove(key),
            };
        }
        output_within(cmd, Duration::from_secs(300))
    } else {
        assert!(
            !testkit::ci(),
            "CI needs /usr/bin/time (scripts/test installs `time`)"
        );
        output_within(plain, Duration::from_secs(300))
    };
    let copied = started.elapsed() - seeded;
    assert_exit(&out, 0);
    assert_eq!(target_digests(&dst, "INBOX"), expected);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!(
        "3 x 100 MB: seeded in {:.1} s, migrated in {:.1} s, peak RSS {:?} KiB (limit {PEAK_LIMIT_KIB})",
        seeded.as_secs_f64(),
        copied.as_secs_f64(),
        max_rss_kib(&stderr)
    );
    if timed {
        let peak = max_rss_kib(&stderr).expect("GNU time reports the peak RSS");
        assert!(
            peak <= PEAK_LIMIT_KIB,
            "peak RSS {peak} KiB > {PEAK_LIMIT_KIB} KiB (1.5 x 100 MB + 64 MB)"
        );
    }
}
