//! The CLI's IMAP response framing (`FrameReader`, then `classify`) on an arbitrary byte
//! stream from a server: never panics; the frames are the input's leading bytes, in order;
//! every line is within the line limit and every literal within the literal limit; each
//! announced literal (`{n}` / `{n+}` ending a line) is exactly n bytes of the frame, and a
//! frame ends with the first line after its literals that announces none.
#![no_main]

use imapmig_cli::fuzzing::{FrameEnd, MAX_LINE, MAX_LITERAL, read_frames};
use libfuzzer_sys::fuzz_target;

/// The literal length a line (LF included) announces at its end, read independently of the
/// reader: `{digits}` or `{digits+}`, then an optional CR, then LF; at most 19 digits.
fn announced(line: &[u8]) -> Option<u64> {
    let body = line.strip_suffix(b"\n")?;
    let body = body.strip_suffix(b"\r").unwrap_or(body);
    let body = body.strip_suffix(b"}")?;
    let body = body.strip_suffix(b"+").unwrap_or(body);
    let digits = body.len() - body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    let (open, digits) = body.split_at(digits);
    if !open.ends_with(b"{") || digits.is_empty() || digits.len() > 19 {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Walks one frame with the literal lengths the reader reported.
fn check_frame(frame: &[u8], literals: &[u64]) {
    let line_at = |pos: usize| {
        let lf = frame[pos..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("a line ends in the frame");
        let line = &frame[pos..pos + lf + 1];
        assert!(line.len() <= MAX_LINE, "line of {} bytes", line.len());
        line
    };
    let mut pos = 0;
    for &n in literals {
        assert!(n <= MAX_LITERAL);
        let line = line_at(pos);
        assert_eq!(announced(line), Some(n), "{line:?}");
        pos += line.len() + usize::try_from(n).expect("small literal");
        assert!(pos <= frame.len());
    }
    let last = line_at(pos);
    assert_eq!(
        pos + last.len(),
        frame.len(),
        "the frame ends with its last line"
    );
    assert_eq!(announced(last), None, "{last:?}");
}

fuzz_target!(|data: &[u8]| {
    let run = read_frames(data);
    let mut consumed = 0;
    for frame in &run.frames {
        assert!(!frame.bytes.is_empty());
        assert_eq!(
            &data[consumed..consumed + frame.bytes.len()],
            &frame.bytes[..]
        );
        consumed += frame.bytes.len();
        check_frame(&frame.bytes, &frame.literals);
    }
    match run.end {
        FrameEnd::Closed => {}
        FrameEnd::LineTooLong { at, limit } => {
            assert_eq!(limit, MAX_LINE);
            assert!(at > limit);
        }
        FrameEnd::LiteralTooLarge { size, limit } => {
            assert_eq!(limit, MAX_LITERAL);
            assert!(size > limit);
        }
        FrameEnd::Other(text) => panic!("reading bytes in memory failed: {text}"),
    }
});
