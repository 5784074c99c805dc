//! Framing and classification, over in-memory streams cut every which way.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

use super::*;

/// A stream that hands out `data` at most `chunk` bytes per read.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    chunk: usize,
}

impl AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self
            .chunk
            .min(self.data.len() - self.pos)
            .min(buf.remaining());
        let start = self.pos;
        buf.put_slice(&self.data[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

fn chunked(data: &[u8], chunk: usize) -> Chunked {
    Chunked {
        data: data.to_vec(),
        pos: 0,
        chunk,
    }
}

const IDLE: Duration = Duration::from_secs(5);

async fn all_frames(input: &[u8], chunk: usize, limits: Limits) -> Vec<Bytes> {
    let mut io = chunked(input, chunk);
    let mut r = FrameReader::new(limits);
    let mut out = Vec::new();
    loop {
        match r.frame(&mut io, IDLE).await {
            Ok(f) => out.push(f),
            Err(ReadFailure::Closed) => return out,
            Err(e) => panic!("{e:?}"),
        }
    }
}

#[tokio::test]
async fn frames_are_whole_responses_however_the_stream_is_cut() {
    let body = b"Subject: x\r\n\r\n* NAMESPACE (evil)\r\nm9 OK {5}\r\n";
    let fetch = [
        format!("* 1 FETCH (UID 7 BODY[] {{{}}}\r\n", body.len()).as_bytes(),
        &body[..],
        b")\r\n",
    ]
    .concat();
    let want: Vec<&[u8]> = vec![
        b"* CAPABILITY IMAP4rev1 LITERAL+\r\n",
        &fetch,
        b"* 2 FETCH (UID 8 BODY[HEADER] {0}\r\n FLAGS (\\Seen))\r\n",
        b"+ go ahead\r\n",
        b"m1 OK done\r\n",
    ];
    let input = want.concat();
    for chunk in [1usize, 2, 3, 7, 64, 1 << 20] {
        let got = all_frames(&input, chunk, Limits::default()).await;
        assert_eq!(got, want, "chunk {chunk}");
    }
}

#[tokio::test]
async fn a_literal_is_announced_before_it_is_read_and_the_body_is_a_slice_of_the_frame() {
    let body = vec![b'a'; 300_000];
    let input = [
        b"* 3 FETCH (UID 9 BODY[] {300000}\r\n".as_slice(),
        &body,
        b")\r\nm2 OK\r\n",
    ]
    .concat();
    let mut io = chunked(&input, 8192);
    let mut r = FrameReader::new(Limits::default());
    match r.step(&mut io, IDLE).await.unwrap() {
        Step::Literal(n) => assert_eq!(n, 300_000),
        Step::Frame(f) => panic!("frame before the literal: {} bytes", f.len()),
    }
    // Nothing of the literal beyond the first line-mode read has been taken yet.
    assert!(io.pos <= 8192, "{}", io.pos);
    let Step::Frame(frame) = r.step(&mut io, IDLE).await.unwrap() else {
        panic!("a second literal")
    };
    let Classified::Untagged(Response::Fetch(3, attrs)) = classify(&frame) else {
        panic!("not a FETCH")
    };
    let data = attrs
        .iter()
        .find_map(|a| match a {
            AttributeValue::BodySection {
                data: Some(Cow::Borrowed(d)),
                ..
            } => Some(*d),
            _ => None,
        })
        .unwrap();
    let slice = frame.slice_ref(data);
    assert_eq!(slice.len(), body.len());
    // The body handed out is the very memory the socket wrote into: no copy.
    let range = frame.as_ptr() as usize..frame.as_ptr() as usize + frame.len();
    assert!(range.contains(&(slice.as_ptr() as usize)));
    assert_eq!(&slice[..], &body[..]);
    let Step::Frame(done) = r.step(&mut io, IDLE).await.unwrap() else {
        panic!("no completion")
    };
    assert_eq!(&done[..], b"m2 OK\r\n");
}

use imap_proto::AttributeValue;
use std::borrow::Cow;

#[tokio::test]
async fn lines_and_literals_over_the_bounds_are_typed_errors() {
    let limits = Limits {
        max_line: 64,
        max_literal: 1000,
    };
    let long = [vec![b'x'; 200], b"\r\n".to_vec()].concat();
    let mut r = FrameReader::new(limits);
    let e = r.frame(&mut chunked(&long, 16), IDLE).await.unwrap_err();
    assert!(
        matches!(e, ReadFailure::LineTooLong { at, limit: 64 } if at > 64),
        "{e:?}"
    );
    let mut r = FrameReader::new(limits);
    let e = r
        .frame(&mut chunked(b"* 1 FETCH (BODY[] {1001}\r\n", 4), IDLE)
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ReadFailure::LiteralTooLarge {
            size: 1001,
            limit: 1000
        }
    );
    // The bound is on each line, not on the response: literals do not count.
    let mut r = FrameReader::new(limits);
    let ok = [
        b"* 1 FETCH (UID 1 BODY[] {900}\r\n".as_slice(),
        &[b'y'; 900],
        b")\r\n",
    ]
    .concat();
    assert_eq!(r.frame(&mut chunked(&ok, 100), IDLE).await.unwrap(), ok);
}

#[tokio::test]
async fn silence_is_an_idle_failure_and_a_close_is_closed() {
    let (mut client, server) = tokio::io::duplex(64);
    let mut r = FrameReader::new(Limits::default());
    let e = r
        .frame(&mut client, Duration::from_millis(50))
        .await
        .unwrap_err();
    assert_eq!(e, ReadFailure::Idle(Duration::from_millis(50)));
    drop(server);
    let mut r = FrameReader::new(Limits::default());
    assert_eq!(
        r.frame(&mut client, IDLE).await.unwrap_err(),
        ReadFailure::Closed
    );
}

#[test]
fn classification_table() {
    assert!(matches!(classify(b"+ Ready\r\n"), Classified::Continue));
    let Classified::Done(done) = classify(b"m4 OK [APPENDUID 38505 3955] APPEND completed\r\n")
    else {
        panic!("not a completion")
    };
    assert_eq!(done.tag, "m4");
    assert_eq!(done.status, DoneStatus::Ok);
    assert_eq!(done.append_uid(), Some((38505, 3955)));
    let Classified::Done(done) =
        classify(b"m5 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n")
    else {
        panic!("not a completion")
    };
    assert_eq!(
        (done.status, done.code, done.text.as_str()),
        (
            DoneStatus::No,
            Some(ReplyCode::OverQuota),
            "Quota exceeded (mailbox for user is full)"
        )
    );
    let Classified::Done(done) = classify(b"m6 BAD Error in IMAP command\r\n") else {
        panic!("not a completion")
    };
    assert_eq!((done.status, done.code), (DoneStatus::Bad, None));
    let raw: &[(&[u8], RawKind)] = &[
        (
            b"* NAMESPACE ((\"\" \"/\")) NIL ((\"#shared/\" \"/\"))\r\n",
            RawKind::Namespace,
        ),
        (
            b"* STATUS INBOX (MESSAGES 3 SIZE 1234)\r\n",
            RawKind::Status,
        ),
        (b"* ESEARCH (TAG \"m1\") UID COUNT 3\r\n", RawKind::Ignored),
    ];
    for (frame, kind) in raw {
        match classify(frame) {
            Classified::Raw(k) => assert_eq!(k, *kind, "{}", String::from_utf8_lossy(frame)),
            other => panic!("{}: {other:?}", String::from_utf8_lossy(frame)),
        }
    }
    assert!(matches!(
        classify(b"* 1 FETCH (UID 5 FLAGS (\\Seen))\r\n"),
        Classified::Untagged(Response::Fetch(1, _))
    ));
    assert!(matches!(
        classify(b"* QUOTA \"\" (STORAGE 10 512)\r\n"),
        Classified::Untagged(Response::Quota(q)) if q.resources.len() == 1
    ));
    // An empty list: no quota, not an error.
    assert!(matches!(
        classify(b"* QUOTA \"ROOT\" ()\r\n"),
        Classified::Untagged(Response::Quota(q)) if q.resources.is_empty()
    ));
    // Courier 5 sends no list at all: no quota either.
    assert!(matches!(
        classify(b"* QUOTA \"ROOT\"\r\n"),
        Classified::Raw(RawKind::Ignored)
    ));
    assert!(matches!(
        classify(b"* 4 EXISTS\r\n"),
        Classified::Untagged(Response::MailboxData(_))
    ));
    for garbage in [
        &b"\x00\xff\xfegarbage\r\n"[..],
        b"* WHATEVER 1 2 3\r\n",
        b"*\r\n",
        b"\r\n",
    ] {
        assert!(
            matches!(classify(garbage), Classified::Unparseable),
            "{garbage:?}"
        );
    }
    let (status, code, text) = untagged_status(b"* OK [THROTTLED] slow down\r\n").unwrap();
    assert_eq!(
        (status, code, text.as_str()),
        (
            imapmig_core::throttle::Status::Ok,
            Some(ReplyCode::Throttled),
            "slow down"
        )
    );
}

#[test]
fn the_head_of_an_unparseable_response_is_short_and_escaped() {
    let head = head_escaped(b"\x00\xffSubject: secret plans for the merger\r\n");
    assert_eq!(head, "\\x00\\xffSubject: secre");
}

#[test]
fn literal_markers_table() {
    let cases: &[(&[u8], Option<u64>)] = &[
        (b"a {12}\r\n", Some(12)),
        (b"a {12+}\r\n", Some(12)),
        (b"a ~{0}\r\n", Some(0)),
        (b"a {x}\r\n", None),
        (b"a {}\r\n", None),
        (b"a 12}\r\n", None),
        (b"a {12}", None),
    ];
    for (line, want) in cases {
        assert_eq!(
            literal_at_end(line),
            *want,
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}
