//! `text/calendar` parts (RFC 5545, with the iTIP/iMIP rules of RFC 5546 and
//! RFC 6047 that matter for mail): is this a valid iCalendar object?
//!
//! The check is structural, not a full parser: content lines (unfolded,
//! `name[;params]:value`), BEGIN/END nesting with matching names, a
//! VCALENDAR with PRODID, VERSION and at least one component, the required
//! properties of each component, and a METHOD property that agrees with the
//! Content-Type `method=` parameter.

/// Why a calendar is malformed, and where (offset in the decoded text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CalendarDefect {
    pub(crate) offset: usize,
    pub(crate) reason: &'static str,
}

const MAX_DEPTH: usize = 16;

struct Component {
    name: Vec<u8>,
    start: usize,
    props: u32,
    children: usize,
}

// Bits of `Component::props`.
const UID: u32 = 1;
const DTSTART: u32 = 2;
const PRODID: u32 = 4;
const VERSION: u32 = 8;
const TZID: u32 = 16;
const ACTION: u32 = 32;
const TRIGGER: u32 = 64;

fn prop_bit(name: &[u8]) -> u32 {
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if is("UID") {
        UID
    } else if is("DTSTART") {
        DTSTART
    } else if is("PRODID") {
        PRODID
    } else if is("VERSION") {
        VERSION
    } else if is("TZID") {
        TZID
    } else if is("ACTION") {
        ACTION
    } else if is("TRIGGER") {
        TRIGGER
    } else {
        0
    }
}

/// Check an iCalendar text. `ct_method` is the Content-Type `method=` parameter.
pub(crate) fn check(text: &[u8], ct_method: Option<&[u8]>) -> Result<(), CalendarDefect> {
    let mut stack: Vec<Component> = Vec::new();
    let mut calendars = 0usize;
    let mut method: Option<(Vec<u8>, usize)> = None;
    let mut pos = 0;
    let mut unfolded = Vec::new();
    while pos < text.len() {
        // One logical line: physical lines joined while the next starts with SP/HT.
        let start = pos;
        unfolded.clear();
        loop {
            let (content_end, next) = physical_line(text, pos);
            unfolded.extend_from_slice(&text[pos..content_end]);
            pos = next;
            if pos < text.len() && (text[pos] == b' ' || text[pos] == b'\t') {
                pos += 1;
                continue;
            }
            break;
        }
        let line = unfolded.as_slice();
        if line.trim_ascii().is_empty() {
            continue;
        }
        let (name, value) = split_content_line(line).ok_or(CalendarDefect {
            offset: start,
            reason: "content line without a ':'",
        })?;
        if name.is_empty() || !name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(CalendarDefect {
                offset: start,
                reason: "invalid property name",
            });
        }
        if stack.is_empty() && !name.eq_ignore_ascii_case(b"BEGIN") {
            return Err(CalendarDefect {
                offset: start,
                reason: "content outside BEGIN:VCALENDAR",
            });
        }
        if name.eq_ignore_ascii_case(b"BEGIN") {
            let value = value.trim_ascii();
            if stack.is_empty() && !value.eq_ignore_ascii_case(b"VCALENDAR") {
                return Err(CalendarDefect {
                    offset: start,
                    reason: "object does not start with BEGIN:VCALENDAR",
                });
            }
            if !stack.is_empty() && value.eq_ignore_ascii_case(b"VCALENDAR") {
                return Err(CalendarDefect {
                    offset: start,
                    reason: "VCALENDAR nested in a component",
                });
            }
            if stack.len() >= MAX_DEPTH {
                return Err(CalendarDefect {
                    offset: start,
                    reason: "components nested too deep",
                });
            }
            if let Some(parent) = stack.last_mut() {
                parent.children += 1;
            }
            stack.push(Component {
                name: value.to_vec(),
                start,
                props: 0,
                children: 0,
            });
        } else if name.eq_ignore_ascii_case(b"END") {
            let Some(component) = stack.pop() else {
                return Err(CalendarDefect {
                    offset: start,
                    reason: "END without BEGIN",
                });
            };
            if !component.name.eq_ignore_ascii_case(value.trim_ascii()) {
                return Err(CalendarDefect {
                    offset: start,
                    reason: "END does not match BEGIN",
                });
            }
            let is_calendar = stack.is_empty();
            if is_calendar {
                calendars += 1;
            }
            check_component(&component, is_calendar, method.as_ref().map(|m| &m.0[..]))?;
        } else {
            let bit = prop_bit(name);
            if let Some(component) = stack.last_mut() {
                component.props |= bit;
            }
            if stack.len() == 1 && name.eq_ignore_ascii_case(b"METHOD") {
                method = Some((value.trim_ascii().to_vec(), start));
            }
        }
    }
    if let Some(open) = stack.last() {
        return Err(CalendarDefect {
            offset: open.start,
            reason: "component not closed (no END)",
        });
    }
    if calendars == 0 {
        return Err(CalendarDefect {
            offset: 0,
            reason: "no VCALENDAR object",
        });
    }
    match (ct_method, &method) {
        (Some(ct), Some((prop, at))) if !ct.trim_ascii().eq_ignore_ascii_case(prop) => {
            Err(CalendarDefect {
                offset: *at,
                reason: "METHOD contradicts the Content-Type method parameter",
            })
        }
        (Some(_), None) => Err(CalendarDefect {
            offset: 0,
            reason: "Content-Type has a method parameter but the object has no METHOD",
        }),
        _ => Ok(()),
    }
}

fn check_component(
    component: &Component,
    is_calendar: bool,
    method: Option<&[u8]>,
) -> Result<(), CalendarDefect> {
    let missing = |reason| {
        Err(CalendarDefect {
            offset: component.start,
            reason,
        })
    };
    let has = |bit| component.props & bit != 0;
    let name = &component.name[..];
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if is_calendar {
        if !has(PRODID) {
            return missing("VCALENDAR without PRODID");
        }
        if !has(VERSION) {
            return missing("VCALENDAR without VERSION");
        }
        if component.children == 0 {
            return missing("VCALENDAR without a component");
        }
    } else if is("VEVENT") {
        if !has(UID) {
            return missing("VEVENT without UID");
        }
        // RFC 5546: DTSTART is required in a published or requested event;
        // replies and cancellations may omit it.
        let needs_start = method.is_none_or(|m| {
            let m = m.trim_ascii();
            m.eq_ignore_ascii_case(b"PUBLISH")
                || m.eq_ignore_ascii_case(b"REQUEST")
                || m.eq_ignore_ascii_case(b"ADD")
        });
        if needs_start && !has(DTSTART) {
            return missing("VEVENT without DTSTART");
        }
    } else if is("VTODO") || is("VJOURNAL") {
        if !has(UID) {
            return missing("component without UID");
        }
    } else if is("VTIMEZONE") {
        if !has(TZID) {
            return missing("VTIMEZONE without TZID");
        }
        if component.children == 0 {
            return missing("VTIMEZONE without STANDARD or DAYLIGHT");
        }
    } else if is("VALARM") && !(has(ACTION) && has(TRIGGER)) {
        return missing("VALARM without ACTION and TRIGGER");
    }
    Ok(())
}

fn physical_line(text: &[u8], pos: usize) -> (usize, usize) {
    match memchr::memchr(b'\n', &text[pos..]) {
        Some(i) => {
            let lf = pos + i;
            let content_end = if lf > pos && text[lf - 1] == b'\r' {
                lf - 1
            } else {
                lf
            };
            (content_end, lf + 1)
        }
        None => (text.len(), text.len()),
    }
}

/// Split `name[;params]:value`, skipping colons inside quoted parameter values.
fn split_content_line(line: &[u8]) -> Option<(&[u8], &[u8])> {
    let name_end = line
        .iter()
        .position(|&b| b == b';' || b == b':')
        .unwrap_or(line.len());
    let mut quoted = false;
    for (i, &b) in line.iter().enumerate().skip(name_end) {
        match b {
            b'"' => quoted = !quoted,
            b':' if !quoted => return Some((&line[..name_end], &line[i + 1..])),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = "BEGIN:VCALENDAR\r\nPRODID:-//Test//EN\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:1@example.org\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\nATTENDEE;CN=\"Doe: John\":mailto:john@example.org\r\nDESCRIPTION:a long line that is\r\n  folded\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn valid_calendars() {
        assert_eq!(check(EVENT.as_bytes(), Some(b"REQUEST")), Ok(()));
        assert_eq!(check(EVENT.as_bytes(), Some(b"request")), Ok(()));
        assert_eq!(check(EVENT.as_bytes(), None), Ok(()));
        let lf = EVENT.replace("\r\n", "\n");
        assert_eq!(check(lf.as_bytes(), None), Ok(()));
        let reply = EVENT
            .replace("METHOD:REQUEST", "METHOD:REPLY")
            .replace("DTSTART:20240102T100000Z\r\n", "");
        assert_eq!(check(reply.as_bytes(), Some(b"REPLY")), Ok(()));
    }

    #[test]
    fn malformed_calendars() {
        let cases: Vec<(String, Option<&[u8]>, &str)> = vec![
            (
                EVENT.replace("END:VEVENT", "END:VTODO"),
                None,
                "END does not match BEGIN",
            ),
            (
                EVENT.replace("END:VCALENDAR\r\n", ""),
                None,
                "component not closed (no END)",
            ),
            (
                EVENT.replace("UID:1@example.org\r\n", ""),
                None,
                "VEVENT without UID",
            ),
            (
                EVENT.replace("DTSTART:20240102T100000Z\r\n", ""),
                None,
                "VEVENT without DTSTART",
            ),
            (
                EVENT.replace("PRODID:-//Test//EN\r\n", ""),
                None,
                "VCALENDAR without PRODID",
            ),
            (
                EVENT.to_owned(),
                Some(b"CANCEL"),
                "METHOD contradicts the Content-Type method parameter",
            ),
            (
                EVENT.replace("METHOD:REQUEST\r\n", ""),
                Some(b"REQUEST"),
                "Content-Type has a method parameter but the object has no METHOD",
            ),
            (
                "BEGIN:VCALENDAR\r\nPRODID:x\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n".to_owned(),
                None,
                "VCALENDAR without a component",
            ),
            (
                "hello world\r\n".to_owned(),
                None,
                "content line without a ':'",
            ),
            (
                "BEGIN:VEVENT\r\nEND:VEVENT\r\n".to_owned(),
                None,
                "object does not start with BEGIN:VCALENDAR",
            ),
            ("".to_owned(), None, "no VCALENDAR object"),
            (
                EVENT.replace("DTSTAMP", "DT STAMP"),
                None,
                "invalid property name",
            ),
        ];
        for (text, method, reason) in cases {
            assert_eq!(
                check(text.as_bytes(), method).map_err(|e| e.reason),
                Err(reason),
                "{text}"
            );
        }
    }
}
