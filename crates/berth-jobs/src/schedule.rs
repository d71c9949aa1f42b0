//! Five-field cron schedules (minute hour day-of-month month day-of-week, UTC), for
//! scheduled retention runs: `*`, lists `a,b`, ranges `a-b`, steps `*/n` and `a-b/n`.
//! As in cron, when both day fields are restricted a day matching either one fires.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// Day-of-month and day-of-week were both restricted (then either may match).
    either_day: bool,
    text: String,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "invalid schedule {text:?}: {reason} (expected five fields: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\")"
)]
pub struct ScheduleError {
    text: String,
    reason: String,
}

fn field(text: &str, min: u32, max: u32) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (number(a, min, max)?, number(b, min, max)?)
        } else {
            let n = number(range, min, max)?;
            (n, if step > 1 { max } else { n })
        };
        if lo > hi {
            return Err(format!("empty range {range:?}"));
        }
        for v in (lo..=hi).step_by(step as usize) {
            bits |= 1 << v;
        }
    }
    Ok((bits, text != "*"))
}

fn number(text: &str, min: u32, max: u32) -> Result<u32, String> {
    text.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| format!("{text:?} is not a number from {min} to {max}"))
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let fail = |reason: String| ScheduleError {
            text: text.to_string(),
            reason,
        };
        let parts: Vec<&str> = text.split_whitespace().collect();
        let [m, h, dom, mon, dow] = parts[..] else {
            return Err(fail(format!("{} fields", parts.len())));
        };
        let (minutes, _) = field(m, 0, 59).map_err(fail)?;
        let (hours, _) = field(h, 0, 23).map_err(fail)?;
        let (days, dom_set) = field(dom, 1, 31).map_err(fail)?;
        let (months, _) = field(mon, 1, 12).map_err(fail)?;
        let (mut weekdays, dow_set) = field(dow, 0, 7).map_err(fail)?;
        if weekdays & (1 << 7) != 0 {
            weekdays |= 1; // 7 is Sunday too
        }
        Ok(Schedule {
            minutes,
            hours,
            days,
            months,
            weekdays,
            either_day: dom_set && dow_set,
            text: text.to_string(),
        })
    }

    /// Five fields, or Harbor's six with seconds first. berth's schedules have minutes as
    /// the finest step, so the seconds field must be a plain number and is dropped.
    pub fn parse_with_seconds(text: &str) -> Result<Schedule, ScheduleError> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        match parts.as_slice() {
            [seconds, rest @ ..] if rest.len() == 5 => {
                if !seconds.chars().all(|c| c.is_ascii_digit()) {
                    return Err(ScheduleError {
                        text: text.to_string(),
                        reason: "the seconds field must be a number (schedules run at minutes)"
                            .into(),
                    });
                }
                let mut schedule = Schedule::parse(&rest.join(" "))?;
                schedule.text = text.to_string();
                Ok(schedule)
            }
            _ => Schedule::parse(text),
        }
    }

    fn day_matches(&self, t: &Civil) -> bool {
        let has = |bits: u64, v: u32| bits & (1 << v) != 0;
        let day = if self.either_day {
            has(self.days, t.day) || has(self.weekdays, t.weekday)
        } else {
            has(self.days, t.day) && has(self.weekdays, t.weekday)
        };
        day && has(self.months, t.month)
    }

    fn matches(&self, t: &Civil) -> bool {
        self.minutes & (1 << t.minute) != 0
            && self.hours & (1 << t.hour) != 0
            && self.day_matches(t)
    }

    /// The first minute strictly after `after` (Unix seconds) that the schedule names, in
    /// Unix seconds; `None` if none within eight years (e.g. February 30th).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        let mut t = (after.div_euclid(60) + 1) * 60;
        let limit = t + 8 * 366 * 86_400;
        while t < limit {
            let c = Civil::from_unix(t);
            if !self.day_matches(&c) {
                t = (t.div_euclid(86_400) + 1) * 86_400; // next midnight
                continue;
            }
            if self.matches(&c) {
                return Some(t);
            }
            t += 60;
        }
        None
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A UTC calendar time.
#[derive(Debug)]
struct Civil {
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    /// 0 = Sunday.
    weekday: u32,
}

impl Civil {
    fn from_unix(secs: i64) -> Civil {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (_, month, day) = berth_meta::civil_from_days(days);
        Civil {
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            weekday: (days + 4).rem_euclid(7) as u32, // 1970-01-01 was a Thursday
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-24 04:15:00 UTC, a Tuesday.
    const T: i64 = 1_795_493_700;

    #[test]
    fn civil_time() {
        let c = Civil::from_unix(T);
        assert_eq!(
            (c.month, c.day, c.hour, c.minute, c.weekday),
            (11, 24, 4, 15, 2)
        );
    }

    #[test]
    fn harbors_six_fields_drop_the_seconds() {
        let daily = Schedule::parse_with_seconds("0 0 3 * * *").unwrap();
        assert_eq!(
            daily.next_after(T),
            Schedule::parse("0 3 * * *").unwrap().next_after(T)
        );
        assert_eq!(daily.to_string(), "0 0 3 * * *");
        assert!(Schedule::parse_with_seconds("*/5 0 3 * * *").is_err());
        assert!(Schedule::parse_with_seconds("0 3 * * *").is_ok());
        assert!(Schedule::parse_with_seconds("0 0 3 * *  * *").is_err());
    }

    #[test]
    fn next_runs() {
        let cases = [
            ("* * * * *", T + 60),
            ("0 3 * * *", T + 22 * 3600 + 45 * 60), // tomorrow 03:00
            ("*/10 * * * *", T + 5 * 60),           // 04:20
            ("30 4 * * 2", T + 15 * 60),            // today 04:30 (Tuesday)
            ("0 0 1 * *", 1_796_083_200),           // 2026-12-01 00:00
            ("0 12 25 12 *", 1_798_200_000),        // 2026-12-25 12:00
            ("0 0 * * 7", T + 4 * 86_400 + 19 * 3600 + 45 * 60), // Sunday 29th 00:00
        ];
        for (text, want) in cases {
            let s = Schedule::parse(text).unwrap();
            assert_eq!(s.next_after(T), Some(want), "{text}");
        }
        assert_eq!(Schedule::parse("0 0 30 2 *").unwrap().next_after(T), None);
    }

    #[test]
    fn refuses_bad_schedules() {
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "* 24 * * *",
            "*/0 * * * *",
            "5-1 * * * *",
            "a * * * *",
        ] {
            let e = Schedule::parse(bad).unwrap_err().to_string();
            assert!(e.contains("five fields"), "{bad}: {e}");
        }
    }
}
