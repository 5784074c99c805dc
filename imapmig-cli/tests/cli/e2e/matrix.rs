//! The migrate scenarios as a server matrix (issue 15): Dovecot 2.3 (slash and dot/`INBOX.`
//! layouts), Cyrus IMAP 3.6 and Courier-IMAP 5 on either side, each row with the scenarios
//! where its quirks matter. Every assertion reads the servers' own state afterwards: the
//! messages of each target folder as a byte-exact multiset (Cyrus stores raw 8-bit header
//! bytes as `X`, so what it holds is compared with what it makes of the source), and the
//! flags and INTERNALDATEs from `UID FETCH`.
//!
//! Rows (source → target) and scenarios. "First pass" lands every message once with its
//! flags (`\Seen`, `\Flagged`, `\Answered`, a keyword) and INTERNALDATE; "rerun" copies
//! nothing; "UIDVALIDITY" changes it on one side between runs and the next run copies
//! nothing; "SIGKILL" kills the first pass mid-copy and the rerun completes it exactly.
//!
//! | row | first pass, rerun | UIDVALIDITY | SIGKILL | other |
//! |---|---|---|---|---|
//! | Courier → Dovecot slash | yes, from a `\Noselect` parent's child | source (RENAME, renumbered) | | |
//! | Cyrus → Dovecot slash | yes | source (DELETE, CREATE, appended anew) | yes | |
//! | Dovecot slash → Courier | yes, into a `\Noselect` parent | target (RENAME) | yes | |
//! | Dovecot slash → Cyrus | yes, 15 raw UTF-8 headers stored as `X` (`--repair-8bit-headers=off`, as for every Cyrus target here; the repair is e2e::eightbit_headers) | target, plain and rewritten folders | | |
//! | Dovecot dot → Cyrus | yes | source | yes | |
//! | Courier → Cyrus, Cyrus → Courier | yes | | | |
//! | Dovecot slash → Cyrus, → Courier | | | | over quota: refused before copying, then full mid-run (exit 3, nothing doubled); a folder name with a dot; wrong password on either side (exit 4) |

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use testkit::{Courier, CourierConfig, Cyrus, CyrusConfig, RawImap};

use super::*;

/// The longest any single run may take before the test calls it hung.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// What the matrix needs of a server, whichever it is.
trait Server {
    /// For failure messages.
    fn name(&self) -> String;
    fn addr(&self) -> SocketAddr;
    fn session(&self) -> RawImap;
    /// The raw bytes of every message, in UID order.
    fn messages(&self, folder: &str) -> Vec<Vec<u8>>;
    fn folders(&self) -> Vec<String>;
    /// `true` for the `INBOX.` prefix with `.`, `false` for slash without a prefix.
    fn dotted(&self) -> bool;
    /// What the server stores of a message appended to it.
    fn stored_form(&self, message: &[u8]) -> Vec<u8> {
        message.to_vec()
    }
    /// Gives a folder a new UIDVALIDITY, keeping its messages.
    fn new_uidvalidity(&self, folder: &str);
    /// Options every run into this server as the target adds.
    fn target_args(&self) -> &'static [&'static str] {
        &[]
    }
}

impl Server for Dovecot {
    fn name(&self) -> String {
        format!("Dovecot {:?}", self.layout())
    }
    fn addr(&self) -> SocketAddr {
        Dovecot::addr(self)
    }
    fn session(&self) -> RawImap {
        Dovecot::session(self)
    }
    fn messages(&self, folder: &str) -> Vec<Vec<u8>> {
        Dovecot::messages(self, folder)
    }
    fn folders(&self) -> Vec<String> {
        Dovecot::folders(self)
    }
    fn dotted(&self) -> bool {
        self.layout() == Layout::DotInbox
    }
    fn new_uidvalidity(&self, folder: &str) {
        self.set_uidvalidity(folder, Dovecot::uidvalidity(self, folder) + 1);
    }
}

impl Server for Cyrus {
    fn name(&self) -> String {
        "Cyrus".into()
    }
    fn addr(&self) -> SocketAddr {
        Cyrus::addr(self)
    }
    fn session(&self) -> RawImap {
        Cyrus::session(self)
    }
    fn messages(&self, folder: &str) -> Vec<Vec<u8>> {
        Cyrus::messages(self, folder)
    }
    fn folders(&self) -> Vec<String> {
        Cyrus::folders(self)
    }
    fn dotted(&self) -> bool {
        true
    }
    /// Cyrus's `munge8bit`: every raw 8-bit byte of the header becomes `X`.
    fn stored_form(&self, message: &[u8]) -> Vec<u8> {
        let end = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(message.len(), |i| i + 4);
        let mut out = message.to_vec();
        for b in &mut out[..end] {
            if *b >= 0x80 {
                *b = b'X';
            }
        }
        out
    }
    fn new_uidvalidity(&self, folder: &str) {
        Cyrus::new_uidvalidity(self, folder);
    }
    /// The rows test what Cyrus does with raw 8-bit header bytes, so the repair that would
    /// encode them first (on by default for Cyrus) is off; e2e::eightbit_headers tests it.
    fn target_args(&self) -> &'static [&'static str] {
        &["--repair-8bit-headers=off"]
    }
}

impl Server for Courier {
    fn name(&self) -> String {
        "Courier".into()
    }
    fn addr(&self) -> SocketAddr {
        Courier::addr(self)
    }
    fn session(&self) -> RawImap {
        Courier::session(self)
    }
    fn messages(&self, folder: &str) -> Vec<Vec<u8>> {
        Courier::messages(self, folder)
    }
    fn folders(&self) -> Vec<String> {
        Courier::folders(self)
    }
    fn dotted(&self) -> bool {
        true
    }
    fn new_uidvalidity(&self, folder: &str) {
        Courier::new_uidvalidity(self, folder);
    }
}

/// `imap://test@ADDR`.
fn url_of(s: &dyn Server) -> String {
    format!("imap://test@{}", s.addr())
}

/// The server's name for a folder given as a slash path (`Work/2024`): `INBOX.Work.2024` on
/// a dotted server; `INBOX` everywhere.
fn name_on(s: &dyn Server, path: &str) -> String {
    if path == "INBOX" || !s.dotted() {
        path.to_owned()
    } else {
        format!("INBOX.{}", path.replace('/', "."))
    }
}

fn run(src: &dyn Server, dst: &dyn Server, state: &Path, extra: &[&str]) -> Output {
    let args: Vec<&str> = extra.iter().chain(dst.target_args()).copied().collect();
    output_within(
        migrate_command_urls(&url_of(src), &url_of(dst), state, &args),
        RUN_LIMIT,
    )
}

/// One message to seed: bytes, flags, INTERNALDATE (seconds since the epoch, UTC).
#[derive(Clone, Debug)]
struct Seeded {
    bytes: Vec<u8>,
    flags: &'static str,
    date: i64,
}

const FLAG_SETS: [&str; 5] = [
    "",
    "\\Seen",
    "\\Seen \\Flagged",
    "\\Answered",
    "\\Seen $Work",
];

/// `n` messages tagged `tag`, with flags and INTERNALDATEs out of UID order.
fn corpus(tag: &str, n: usize) -> Vec<Seeded> {
    (0..n)
        .map(|i| Seeded {
            bytes: message(tag, i),
            flags: FLAG_SETS[i % FLAG_SETS.len()],
            date: 1_600_000_000 + 86_400 * ((i * 7 % 40) as i64) + 61 * i as i64,
        })
        .collect()
}

/// Seeds a folder (slash path) over IMAP with flags and dates; one synchronising literal per
/// message, so it works without `LITERAL+` (Courier).
fn seed_on(s: &dyn Server, path: &str, msgs: &[Seeded]) {
    let folder = name_on(s, path);
    let mut session = s.session();
    if folder != "INBOX" {
        session.command(&format!("CREATE {}", testkit::quote_mailbox(&folder)));
    }
    for m in msgs {
        let mut cmd = format!(
            "APPEND {} ({}) \"{}\" {{{}}}\r\n",
            testkit::quote_mailbox(&folder),
            m.flags,
            internaldate(m.date),
            m.bytes.len()
        )
        .into_bytes();
        cmd.extend_from_slice(&m.bytes);
        let reply = session.command_bytes(&cmd);
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.lines().last().is_some_and(|l| l.contains(" OK")),
            "seeding {folder} on {}: {text}",
            s.name()
        );
    }
    session.command("LOGOUT");
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `dd-Mon-yyyy hh:mm:ss +0000` for seconds since the epoch.
fn internaldate(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Civil from days (inverse of `days_from_civil`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{d:02}-{}-{y} {:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Seconds since the epoch of an INTERNALDATE in any zone.
fn parse_internaldate(s: &str) -> i64 {
    let s = s.trim();
    let (day, rest) = s.split_once('-').unwrap();
    let (mon, rest) = rest.split_once('-').unwrap();
    let (year, rest) = rest.split_once(' ').unwrap();
    let (time, zone) = rest.split_once(' ').unwrap();
    let hms: Vec<i64> = time.split(':').map(|x| x.parse().unwrap()).collect();
    let m = MONTHS.iter().position(|x| *x == mon).unwrap() as i64 + 1;
    let days = days_from_civil(year.parse().unwrap(), m, day.trim().parse().unwrap());
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let zone: i64 = zone[1..].parse().unwrap();
    let offset = sign * ((zone / 100) * 3600 + (zone % 100) * 60);
    days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2] - offset
}

/// `(flags, INTERNALDATE)` of every message in the folder, in UID order; `\Recent` left out,
/// flags sorted.
fn flags_and_dates(s: &dyn Server, folder: &str) -> Vec<(String, i64)> {
    let mut session = s.session();
    let examine = session.command(&format!("EXAMINE {}", testkit::quote_mailbox(folder)));
    let text = String::from_utf8_lossy(&examine);
    if text.contains("* 0 EXISTS") {
        return Vec::new();
    }
    let reply = session.command("UID FETCH 1:* (UID FLAGS INTERNALDATE)");
    session.command("LOGOUT");
    let mut rows: Vec<(u32, String, i64)> = String::from_utf8_lossy(&reply)
        .lines()
        .filter(|l| l.starts_with("* ") && l.contains(" FETCH "))
        .map(|line| {
            let uid_at = line.find("UID ").unwrap() + 4;
            let uid: u32 = line[uid_at..]
                .split([' ', ')'])
                .next()
                .unwrap()
                .parse()
                .unwrap();
            let flags_at = line.find("FLAGS (").unwrap() + 7;
            let flags_end = flags_at + line[flags_at..].find(')').unwrap();
            let mut flags: Vec<&str> = line[flags_at..flags_end]
                .split_whitespace()
                .filter(|f| !f.eq_ignore_ascii_case("\\Recent"))
                .collect();
            flags.sort_unstable();
            let date_at = line.find("INTERNALDATE \"").unwrap() + 14;
            let date_end = date_at + line[date_at..].find('"').unwrap();
            (
                uid,
                flags.join(" "),
                parse_internaldate(&line[date_at..date_end]),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    rows.into_iter().map(|(_, f, d)| (f, d)).collect()
}

/// The folder as a sorted multiset of (bytes, flags, date).
fn full_state(s: &dyn Server, folder: &str) -> Vec<(Vec<u8>, String, i64)> {
    let bodies = s.messages(folder);
    let meta = flags_and_dates(s, folder);
    assert_eq!(bodies.len(), meta.len(), "{folder} on {}", s.name());
    let mut all: Vec<_> = bodies
        .into_iter()
        .zip(meta)
        .map(|(b, (f, d))| (b, f, d))
        .collect();
    all.sort();
    all
}

/// Asserts the target folder holds each message exactly once (in the target's stored form),
/// and nothing else; with `meta`, also the flags and INTERNALDATEs of each.
fn assert_landed(dst: &dyn Server, path: &str, msgs: &[Seeded], meta: bool) {
    let folder = name_on(dst, path);
    let mut want: Vec<(Vec<u8>, String, i64)> = msgs
        .iter()
        .map(|m| {
            let mut flags: Vec<&str> = m.flags.split_whitespace().collect();
            flags.sort_unstable();
            (dst.stored_form(&m.bytes), flags.join(" "), m.date)
        })
        .collect();
    want.sort();
    let got: Vec<(Vec<u8>, String, i64)> = if meta {
        full_state(dst, &folder)
    } else {
        let mut b: Vec<_> = dst
            .messages(&folder)
            .into_iter()
            .map(|b| (b, String::new(), 0))
            .collect();
        b.sort();
        for w in &mut want {
            w.1.clear();
            w.2 = 0;
        }
        want.sort();
        b
    };
    if got != want {
        let bodies = |v: &[(Vec<u8>, String, i64)]| -> Vec<Vec<u8>> {
            v.iter().map(|x| x.0.clone()).collect()
        };
        let (g, w) = (bodies(&got), bodies(&want));
        let (gm, wm) = (multiset(&g), multiset(&w));
        let missing = wm
            .iter()
            .filter(|(k, n)| gm.get(*k).copied().unwrap_or(0) < **n)
            .count();
        let extra = gm
            .iter()
            .filter(|(k, n)| wm.get(*k).copied().unwrap_or(0) < **n)
            .count();
        let meta_diff: Vec<String> = got
            .iter()
            .zip(&want)
            .filter(|(a, b)| a.0 == b.0 && (a.1 != b.1 || a.2 != b.2))
            .take(3)
            .map(|(a, b)| format!("got ({:?}, {}) want ({:?}, {})", a.1, a.2, b.1, b.2))
            .collect();
        panic!(
            "{folder} on {}: {} messages, {} expected; {missing} missing, {extra} extra or \
             doubled; flags/dates differ: {meta_diff:?}",
            dst.name(),
            got.len(),
            want.len()
        );
    }
}

/// Asserts the exit status, showing the run's output otherwise.
fn exit_is(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `n` messages whose Subject and Message-ID carry raw UTF-8.
fn utf8_corpus(tag: &str, n: usize) -> Vec<Seeded> {
    (0..n)
        .map(|i| {
            let text = format!(
                "From: Jürgen <j{i}@example.com>\r\nTo: test@example.org\r\n\
                 Subject: Grüße {tag} Nr. {i} – café\r\nDate: Mon, 01 Jan 2024 10:{:02}:00 +0000\r\n\
                 Message-ID: <größe.{tag}.{i}@exämple.com>\r\n\r\nBody {i}.\r\n",
                i % 60
            );
            Seeded {
                bytes: text.into_bytes(),
                flags: FLAG_SETS[i % FLAG_SETS.len()],
                date: 1_650_000_000 + 3_600 * i as i64,
            }
        })
        .collect()
}

/// Messages stored in these folders, from `STATUS (MESSAGES)` (a folder not there yet counts
/// 0).
fn stored_in(session: &mut RawImap, folders: &[String]) -> u64 {
    folders
        .iter()
        .map(|f| {
            let reply =
                session.command(&format!("STATUS {} (MESSAGES)", testkit::quote_mailbox(f)));
            let text = String::from_utf8_lossy(&reply);
            text.find("MESSAGES ")
                .and_then(|at| {
                    text[at + 9..]
                        .split([' ', ')'])
                        .next()
                        .and_then(|n| n.parse().ok())
                })
                .unwrap_or(0)
        })
        .sum()
}

/// Starts a run and kills it with SIGKILL as soon as the target's folders (slash paths)
/// hold `mark` messages in all; true when it was killed, false when it ended first.
fn kill_at(src: &dyn Server, dst: &dyn Server, state: &Path, paths: &[&str], mark: u64) -> bool {
    use std::process::Stdio;
    let folders: Vec<String> = paths.iter().map(|p| name_on(dst, p)).collect();
    let mut poll = dst.session();
    let mut child = migrate_command_urls(&url_of(src), &url_of(dst), state, dst.target_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if stored_in(&mut poll, &folders) >= mark {
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
                nix::sys::signal::Signal::SIGKILL,
            )
            .unwrap();
            child.wait().unwrap();
            return true;
        }
        assert!(
            started.elapsed() < RUN_LIMIT,
            "no end and no {mark} messages on {} within {RUN_LIMIT:?}",
            dst.name()
        );
        std::thread::sleep(Duration::from_millis(3));
    }
}

/// A source's folders (slash paths) with their messages.
type Corpus = Vec<(&'static str, Vec<Seeded>)>;

fn seed_all(src: &dyn Server, folders: &Corpus) {
    for (path, msgs) in folders {
        seed_on(src, path, msgs);
    }
}

fn count(folders: &Corpus) -> u64 {
    folders.iter().map(|(_, m)| m.len() as u64).sum()
}

/// Asserts every folder landed (with flags and dates when `meta`).
fn assert_all_landed(dst: &dyn Server, folders: &Corpus, meta: bool) {
    for (path, msgs) in folders {
        assert_landed(dst, path, msgs, meta);
    }
}

/// The common scenarios of a row: a first pass (killed once with SIGKILL at `kill_mark`
/// messages when given, then run to the end) that lands every message once with its flags
/// and INTERNALDATE; a rerun that copies nothing.
fn first_pass_and_rerun(
    src: &dyn Server,
    dst: &dyn Server,
    state: &Path,
    folders: &Corpus,
    kill_mark: Option<u64>,
) {
    let total = count(folders);
    let row = format!("{} -> {}", src.name(), dst.name());
    if let Some(mark) = kill_mark {
        let paths: Vec<&str> = folders.iter().map(|(p, _)| *p).collect();
        assert!(
            kill_at(src, dst, state, &paths, mark),
            "{row}: the run ended before {mark} messages were stored"
        );
    }
    let out = run(src, dst, state, &[]);
    exit_is(&out, 0, &format!("{row}: first pass"));
    let (copied, present, skipped, failed) = totals(&out);
    assert_eq!((copied + present, skipped, failed), (total, 0, 0), "{row}");
    if kill_mark.is_none() {
        assert_eq!(copied, total, "{row}");
    }
    assert!(reported_duplicates(&out).is_empty(), "{row}");
    assert_all_landed(dst, folders, true);

    let out = run(src, dst, state, &[]);
    exit_is(&out, 0, &format!("{row}: rerun"));
    assert_eq!(totals(&out), (0, total, 0, 0), "{row}: rerun");
    assert_all_landed(dst, folders, true);
}

/// A new UIDVALIDITY for `path` on `side`, then a rerun: exit 0, nothing copied twice.
fn uidvalidity_change(
    src: &dyn Server,
    dst: &dyn Server,
    side: &dyn Server,
    state: &Path,
    path: &str,
    folders: &Corpus,
) {
    side.new_uidvalidity(&name_on(side, path));
    let out = run(src, dst, state, &[]);
    exit_is(
        &out,
        0,
        &format!(
            "{} -> {}: after a new UIDVALIDITY of {path} on {}",
            src.name(),
            dst.name(),
            side.name()
        ),
    );
    assert_eq!(totals(&out).0, 0, "nothing copied again");
    assert_all_landed(dst, folders, false);
}

#[test]
fn courier_to_dovecot_slash() {
    let (Some(src), Some(dst)) = (Courier::start(), server(Layout::Slash)) else {
        return;
    };
    // `Work` is left `\Noselect` on Courier: only `Work/2024` holds mail.
    let folders: Corpus = vec![
        ("INBOX", corpus("c2d-inbox", 8)),
        ("Work/2024", corpus("c2d-2024", 6)),
        ("Lists", corpus("c2d-lists", 5)),
    ];
    seed_all(&src, &folders);
    let state = tempfile::tempdir().unwrap();
    first_pass_and_rerun(&src, &dst, state.path(), &folders, None);
    // Courier renames the folder away and back: new UIDVALIDITY, UIDs renumbered.
    uidvalidity_change(&src, &dst, &src, state.path(), "Work/2024", &folders);
}

#[test]
fn cyrus_to_dovecot_slash_with_a_kill() {
    let (Some(src), Some(dst)) = (Cyrus::start(), server(Layout::Slash)) else {
        return;
    };
    let folders: Corpus = vec![
        ("INBOX", corpus("y2d-inbox", 8)),
        ("Work/2024", corpus("y2d-2024", 6)),
        ("Bulk", corpus("y2d-bulk", 300)),
    ];
    seed_all(&src, &folders);
    let state = tempfile::tempdir().unwrap();
    first_pass_and_rerun(&src, &dst, state.path(), &folders, Some(120));
    // Cyrus deletes and creates the folder again and the messages are appended anew.
    uidvalidity_change(&src, &dst, &src, state.path(), "Work/2024", &folders);
}

#[test]
fn dovecot_slash_to_courier_with_a_kill() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), Courier::start()) else {
        return;
    };
    let folders: Corpus = vec![
        ("INBOX", corpus("d2c-inbox", 6)),
        ("Work", corpus("d2c-work", 5)),
        ("Work/2024", corpus("d2c-2024", 5)),
        ("Bulk", corpus("d2c-bulk", 200)),
    ];
    seed_all(&src, &folders);
    // `INBOX.Work.2024` exists before the run, so `INBOX.Work` is `\Noselect` on Courier and
    // an APPEND there gets `NO [TRYCREATE]`.
    dst.create_folder("INBOX.Work.2024");
    let state = tempfile::tempdir().unwrap();
    first_pass_and_rerun(&src, &dst, state.path(), &folders, Some(60));
    uidvalidity_change(&src, &dst, &dst, state.path(), "Work", &folders);
}

#[test]
fn dovecot_slash_to_cyrus_with_raw_utf8_headers() {
    let (Some(src), Some(dst)) = (server(Layout::Slash), Cyrus::start()) else {
        return;
    };
    // Cyrus stores the raw UTF-8 of Subject, From and Message-ID as `X`: the copies differ
    // from the source, and are known by the UIDs Cyrus gave them (APPENDUID).
    let folders: Corpus = vec![
        ("INBOX", corpus("d2y-inbox", 6)),
        ("Intl", utf8_corpus("d2y", 15)),
        ("Work", corpus("d2y-work", 5)),
    ];
    seed_all(&src, &folders);
    let state = tempfile::tempdir().unwrap();
    first_pass_and_rerun(&src, &dst, state.path(), &folders, None);
    uidvalidity_change(&src, &dst, &dst, state.path(), "Work", &folders);

    // The rewritten copies' folder gets a new UIDVALIDITY: the recorded UIDs are gone, and
    // the copies are found again by their header fingerprint, which reads raw 8-bit bytes as
    // the `X` Cyrus stores. Nothing is copied twice.
    uidvalidity_change(&src, &dst, &dst, state.path(), "Intl", &folders);
}

#[test]
fn dovecot_dot_to_cyrus_with_a_kill() {
    let (Some(src), Some(dst)) = (server(Layout::DotInbox), Cyrus::start()) else {
        return;
    };
    let folders: Corpus = vec![
        ("INBOX", corpus("o2y-inbox", 5)),
        ("Work", corpus("o2y-work", 5)),
        ("Work/Deep", corpus("o2y-deep", 5)),
        ("Bulk", corpus("o2y-bulk", 200)),
    ];
    seed_all(&src, &folders);
    let state = tempfile::tempdir().unwrap();
    first_pass_and_rerun(&src, &dst, state.path(), &folders, Some(80));
    // Dovecot's own UIDVALIDITY change on the source (same UIDs).
    uidvalidity_change(&src, &dst, &src, state.path(), "Work/Deep", &folders);
}

#[test]
fn courier_to_cyrus() {
    let (Some(src), Some(dst)) = (Courier::start(), Cyrus::start()) else {
        return;
    };
    let folders: Corpus = vec![
        ("INBOX", corpus("c2y-inbox", 6)),
        ("Work/2024", corpus("c2y-2024", 5)),
    ];
    seed_all(&src, &folders);
    let state = tempfile::tempdir().unwrap();
    first_pass_and_rerun(&src, &dst, state.path(), &folders, None);
}

#[test]
fn cyrus_to_courier() {
    let (Some(src), Some(dst)) = (Cyrus::start(), Courier::start()) else {
        return;
    };
    let folders: Corpus = vec![
        ("INBOX", corpus("y2c-inbox", 6)),
        ("Work", corpus("y2c-work", 4)),
        ("Work/2024", corpus("y2c-2024", 5)),
    ];
    seed_all(&src, &folders);
    let state = tempfile::tempdir().unwrap();
    first_pass_and_rerun(&src, &dst, state.path(), &folders, None);
}

/// A target whose quota fills up mid-run: with the server's own quota the plan refuses
/// before copying (exit 3, nothing copied); with an operator's `--quota` that lets the plan
/// through, the target refuses an APPEND (exit 3), what it holds is what was copied, each
/// message once, the rest counted as failed and listed; a rerun doubles nothing.
fn over_quota(src: &dyn Server, dst: &dyn Server) {
    let row = format!("{} -> {}", src.name(), dst.name());
    let msgs = corpus(&format!("quota-{}", dst.name()), 40);
    seed_on(src, "INBOX", &msgs);
    let state = tempfile::tempdir().unwrap();
    let out = run(src, dst, state.path(), &[]);
    exit_is(&out, 3, &format!("{row}: refused before copying"));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused before copying"),
        "{row}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dst.messages("INBOX").is_empty(), "{row}: nothing copied");

    for pass in ["first", "second"] {
        let out = run(src, dst, state.path(), &["--quota", "100000000"]);
        exit_is(&out, 3, &format!("{row}: {pass} pass into a full target"));
        let held = dst.messages("INBOX");
        let (copied, present, _, failed) = totals(&out);
        assert!(
            !held.is_empty() && held.len() < msgs.len(),
            "{row}: {} held",
            held.len()
        );
        assert_eq!(copied + present, held.len() as u64, "{row}: {pass} pass");
        assert_eq!(
            failed,
            (msgs.len() - held.len()) as u64,
            "{row}: {pass} pass"
        );
        let sent: Vec<Vec<u8>> = msgs.iter().map(|m| m.bytes.clone()).collect();
        let (h, s) = (multiset(&held), multiset(&sent));
        assert!(
            h.iter().all(|(k, n)| s.get(*k) == Some(n)),
            "{row}: the target holds only source messages, each once"
        );
        let list = std::fs::read_to_string(state.path().join("not-copied.csv")).unwrap();
        assert!(
            list.lines().skip(1).any(|l| l.starts_with("INBOX,")),
            "{row}: {list}"
        );
    }
}

#[test]
fn dovecot_to_cyrus_over_quota() {
    let Some(src) = server(Layout::Slash) else {
        return;
    };
    let Some(dst) = Cyrus::start_with(CyrusConfig::default().with_quota_kib(6)) else {
        return;
    };
    over_quota(&src, &dst);
}

#[test]
fn dovecot_to_courier_over_quota() {
    let Some(src) = server(Layout::Slash) else {
        return;
    };
    let Some(dst) = Courier::start_with(CourierConfig::default().with_quota_kib(6)) else {
        return;
    };
    over_quota(&src, &dst);
}

/// A slash-side folder whose name holds a dot reaches a dotted target as one folder (the dot
/// must not split it into a hierarchy), holding its messages.
fn assert_dotted_name_kept(dst: &dyn Server, msgs: &[Seeded]) {
    let folders = dst.folders();
    let escaped: Vec<&String> = folders.iter().filter(|f| f.contains("notes")).collect();
    assert_eq!(escaped.len(), 1, "{}: {folders:?}", dst.name());
    assert!(
        !folders.iter().any(|f| f == "INBOX.v1"),
        "{}: the dot split the name: {folders:?}",
        dst.name()
    );
    let mut want: Vec<Vec<u8>> = msgs.iter().map(|m| dst.stored_form(&m.bytes)).collect();
    want.sort();
    let mut got = dst.messages(escaped[0]);
    got.sort();
    assert_eq!(got, want, "{} on {}", escaped[0], dst.name());
}

#[test]
fn a_dotted_folder_name_and_refused_logins_on_cyrus_and_courier() {
    let (Some(src), Some(cyrus), Some(courier)) =
        (server(Layout::Slash), Cyrus::start(), Courier::start())
    else {
        return;
    };
    let notes = corpus("notes", 4);
    seed_on(&src, "v1.2 notes", &notes);
    for dst in [&cyrus as &dyn Server, &courier] {
        let state = tempfile::tempdir().unwrap();
        let out = run(&src, dst, state.path(), &["--quota", "1000000000"]);
        exit_is(&out, 0, &format!("v1.2 notes onto {}", dst.name()));
        assert_dotted_name_kept(dst, &notes);

        // A wrong password on either side: exit 4, the password not shown.
        let refused = |src: &dyn Server, dst: &dyn Server, side: &str| {
            let mut cmd = migrate_command_urls(&url_of(src), &url_of(dst), state.path(), &[]);
            cmd.env(format!("IMAPMIG_{side}_PASSWORD"), "wrong-pw");
            let out = output_within(cmd, RUN_LIMIT);
            let what = format!("{} -> {}, {side} password wrong", src.name(), dst.name());
            exit_is(&out, 4, &what);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains("login refused") && !stderr.contains("wrong-pw"),
                "{what}: {stderr}"
            );
        };
        refused(&src, dst, "TARGET");
        refused(dst, &src, "SOURCE");
    }
}
