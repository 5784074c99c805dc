//! The cutover timeline: when the MX TTL must be lowered and how long the
//! old host must stay up. Pure arithmetic on the times given; no clock is read.

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};

/// The seed rule: lower the MX TTL at least 48 hours before the cutover, and
/// keep the old host receiving mail at least 48 hours after it.
pub const SAFETY_WINDOW: TimeDelta = TimeDelta::hours(48);
/// The TTL to lower MX records to before a cutover, in seconds.
pub const DEFAULT_TARGET_TTL: u32 = 300;

/// The inputs of a timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CutoverPlan {
    /// The current time (an input, so the result is reproducible).
    pub now: DateTime<Utc>,
    /// When the MX records will be switched.
    pub cutover: DateTime<Utc>,
    /// The highest TTL of the MX records now published, in seconds.
    pub current_ttl: u32,
    /// The TTL they should have at cutover (usually [`DEFAULT_TARGET_TTL`]).
    pub target_ttl: u32,
}

/// Where the plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TimelineStatus {
    /// The TTL is already at or below the target.
    TtlLow,
    /// The TTL must be lowered by [`Timeline::lower_ttl_by`]; there is time.
    LowerTtlBy,
    /// Too late: caches would still hold the old MX at cutover. Move the
    /// cutover to [`Timeline::earliest_cutover`] or later.
    TooLate,
    /// The cutover time is already past.
    CutoverPast,
}

/// The computed timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Timeline {
    /// The plan it was computed from.
    pub plan: CutoverPlan,
    /// Lower the TTL no later than this: cutover minus max(current TTL, 48 h).
    pub lower_ttl_by: DateTime<Utc>,
    /// The earliest safe cutover if the TTL were lowered now.
    pub earliest_cutover: DateTime<Utc>,
    /// Keep the old host receiving mail at least until this: cutover plus
    /// max(TTL in force at cutover, 48 h).
    pub keep_old_host_until: DateTime<Utc>,
    /// Where the plan stands.
    pub status: TimelineStatus,
}

fn secs(ttl: u32) -> TimeDelta {
    TimeDelta::seconds(i64::from(ttl))
}

/// Computes the timeline of a plan.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use imapmig_dns::timeline::{plan_cutover, CutoverPlan, TimelineStatus};
/// let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
/// let cutover = Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap();
/// let t = plan_cutover(CutoverPlan { now, cutover, current_ttl: 86_400, target_ttl: 300 });
/// assert_eq!(t.status, TimelineStatus::TooLate);
/// assert_eq!(t.earliest_cutover, Utc.with_ymd_and_hms(2026, 3, 3, 9, 0, 0).unwrap());
/// ```
pub fn plan_cutover(plan: CutoverPlan) -> Timeline {
    let lead = secs(plan.current_ttl).max(SAFETY_WINDOW);
    let lower_ttl_by = plan.cutover - lead;
    let earliest_cutover = plan.now + lead;
    let lowered = plan.current_ttl <= plan.target_ttl;
    let ttl_at_cutover = if lowered {
        plan.current_ttl
    } else {
        plan.target_ttl
    };
    let keep_old_host_until = plan.cutover + secs(ttl_at_cutover).max(SAFETY_WINDOW);
    let status = if plan.cutover < plan.now {
        TimelineStatus::CutoverPast
    } else if lowered {
        TimelineStatus::TtlLow
    } else if plan.now > lower_ttl_by {
        TimelineStatus::TooLate
    } else {
        TimelineStatus::LowerTtlBy
    };
    Timeline {
        plan,
        lower_ttl_by,
        earliest_cutover,
        keep_old_host_until,
        status,
    }
}

impl fmt::Display for Timeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.plan;
        let fmt_t = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        match self.status {
            TimelineStatus::TtlLow => write!(
                f,
                "MX TTL is {} s (<= {} s): ready for a cutover at {}",
                p.current_ttl,
                p.target_ttl,
                fmt_t(p.cutover)
            )?,
            TimelineStatus::LowerTtlBy => write!(
                f,
                "lower the MX TTL from {} s to {} s by {}",
                p.current_ttl,
                p.target_ttl,
                fmt_t(self.lower_ttl_by)
            )?,
            TimelineStatus::TooLate => write!(
                f,
                "too late to lower the MX TTL ({} s) for a cutover at {}: lower it now and cut over at {} or later",
                p.current_ttl,
                fmt_t(p.cutover),
                fmt_t(self.earliest_cutover)
            )?,
            TimelineStatus::CutoverPast => {
                write!(f, "the planned cutover {} is in the past", fmt_t(p.cutover))?
            }
        }
        write!(
            f,
            "; keep the old host receiving mail until {}",
            fmt_t(self.keep_old_host_until)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn statuses() {
        let Some(now) = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single() else {
            return;
        };
        let h = TimeDelta::hours;
        let cases: &[(TimeDelta, u32, TimelineStatus, TimeDelta)] = &[
            (h(24), 86_400, TimelineStatus::TooLate, h(-24)),
            (h(72), 86_400, TimelineStatus::LowerTtlBy, h(24)),
            (h(72), 300, TimelineStatus::TtlLow, h(24)),
            (h(24 * 10), 604_800, TimelineStatus::LowerTtlBy, h(24 * 3)),
            (h(-1), 300, TimelineStatus::CutoverPast, h(-49)),
        ];
        for (offset, ttl, status, lower_by) in cases {
            let t = plan_cutover(CutoverPlan {
                now,
                cutover: now + *offset,
                current_ttl: *ttl,
                target_ttl: 300,
            });
            assert_eq!(t.status, *status, "{offset} {ttl}");
            assert_eq!(t.lower_ttl_by, now + *lower_by, "{offset} {ttl}");
            assert_eq!(t.keep_old_host_until, now + *offset + h(48));
        }
    }
}
