//! Durations as Distribution writes them: Go's `time.ParseDuration` syntax ("168h",
//! "1h30m", "500ms", "1.5s"), because registry:2 configs are full of them and users copy
//! them verbatim.

use std::time::Duration;

/// The largest duration Go can represent (`math.MaxInt64` nanoseconds). Anything a
/// registry:2 config could hold fits; larger values are certainly typos.
const MAX_NANOS: u128 = i64::MAX as u128;

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),  // MICRO SIGN, accepted by Go
    ("\u{3bc}s", 1_000), // GREEK SMALL LETTER MU, accepted by Go
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// What the error messages list as accepted, so a user can fix the value on the spot.
pub(crate) const DURATION_HELP: &str =
    "a Go duration such as 10s, 1h30m, 500ms or 168h (units: ns, us, ms, s, m, h)";

/// Parses a Go duration string. Negative durations are refused: no setting berth reads
/// has a meaning for them.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not {DURATION_HELP}");
    let mut rest = text;
    let negative = match rest.as_bytes().first() {
        Some(b'-') => {
            rest = &rest[1..];
            true
        }
        Some(b'+') => {
            rest = &rest[1..];
            false
        }
        _ => false,
    };
    // Go's one exception to "every number needs a unit".
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        let (int_digits, after_int) = rest.split_at(int_len);
        let (frac_digits, after_num) = match after_int.strip_prefix('.') {
            Some(f) => {
                let n = f.bytes().take_while(u8::is_ascii_digit).count();
                f.split_at(n)
            }
            None => ("", after_int),
        };
        if int_digits.is_empty() && frac_digits.is_empty() {
            return Err(bad());
        }
        let unit_len = after_num
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after_num.len());
        let (unit, after_unit) = after_num.split_at(unit_len);
        if unit.is_empty() {
            return Err(format!(
                "{text:?} has a number without a unit; write it as {DURATION_HELP}"
            ));
        }
        let Some(&(_, scale)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!(
                "{text:?} has an unknown unit {unit:?}; use {DURATION_HELP}"
            ));
        };
        let too_big = || format!("{text:?} is too long a duration");
        let mut whole: u128 = 0;
        for d in int_digits.bytes() {
            whole = whole
                .checked_mul(10)
                .and_then(|w| w.checked_add(u128::from(d - b'0')))
                .filter(|w| *w <= MAX_NANOS)
                .ok_or_else(too_big)?;
        }
        let mut part = whole.checked_mul(scale).ok_or_else(too_big)?;
        // Fractions finer than a nanosecond are dropped, as Go does; 30 digits keeps the
        // arithmetic far from overflow.
        let mut frac_value: u128 = 0;
        let mut frac_scale: u128 = 1;
        for d in frac_digits.bytes().take(30) {
            frac_value = frac_value * 10 + u128::from(d - b'0');
            frac_scale *= 10;
        }
        part += frac_value * scale / frac_scale;
        total = total
            .checked_add(part)
            .filter(|t| *t <= MAX_NANOS)
            .ok_or_else(too_big)?;
        rest = after_unit;
    }
    if negative && total != 0 {
        return Err(format!(
            "{text:?} is negative; durations must be zero or more"
        ));
    }
    // MAX_NANOS fits in u64, so the conversion cannot fail.
    Ok(Duration::from_nanos(
        u64::try_from(total).unwrap_or(u64::MAX),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_syntax() {
        let ok = |s: &str| parse_go_duration(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("168h"), Duration::from_secs(168 * 3600));
        assert_eq!(ok("10s"), Duration::from_secs(10));
        assert_eq!(ok("1h30m"), Duration::from_secs(5400));
        assert_eq!(ok("500ms"), Duration::from_millis(500));
        assert_eq!(ok("1.5s"), Duration::from_millis(1500));
        assert_eq!(ok(".5m"), Duration::from_secs(30));
        assert_eq!(
            ok("2h45m30.5s"),
            Duration::from_millis((2 * 3600 + 45 * 60 + 30) * 1000 + 500)
        );
        assert_eq!(ok("3us"), Duration::from_micros(3));
        assert_eq!(ok("3\u{b5}s"), Duration::from_micros(3));
        assert_eq!(ok("3\u{3bc}s"), Duration::from_micros(3));
        assert_eq!(ok("7ns"), Duration::from_nanos(7));
        assert_eq!(ok("0"), Duration::ZERO);
        assert_eq!(ok("+5s"), Duration::from_secs(5));
        assert_eq!(ok("-0s"), Duration::ZERO);
        assert_eq!(ok("2562047h"), Duration::from_secs(2_562_047 * 3600));
    }

    #[test]
    fn rejects_what_go_rejects() {
        for bad in [
            "",
            "s",
            "10",
            "1.5",
            "10x",
            "1d",
            ".s",
            "1h-5m",
            "-5s",
            "ten seconds",
            " 10s",
            "10s ",
            "2562048h",
            "99999999999999999999999h",
        ] {
            assert!(
                parse_go_duration(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn errors_say_what_is_accepted() {
        let e = parse_go_duration("10").unwrap_err();
        assert!(e.contains("without a unit") && e.contains("10s"), "{e}");
        let e = parse_go_duration("3d").unwrap_err();
        assert!(
            e.contains("\"d\"") && e.contains("ns, us, ms, s, m, h"),
            "{e}"
        );
    }
}
