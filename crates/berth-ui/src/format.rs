//! How numbers and times read on a page.

/// `1536` → `1.5 KiB`.
pub(crate) fn bytes(n: i64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = n.max(0) as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// A size people wrote (`500 MiB`, `20GiB`, `1.5 TB`, `1048576`) in bytes; units are
/// binary whether or not the `i` is there, as quotas are usually meant.
pub(crate) fn size_bytes(text: &str) -> Option<i64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let power = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 1,
        "m" | "mb" | "mib" => 2,
        "g" | "gb" | "gib" => 3,
        "t" | "tb" | "tib" => 4,
        "p" | "pb" | "pib" => 5,
        _ => return None,
    };
    let value = number * 1024f64.powi(power);
    (value.is_finite() && value < i64::MAX as f64).then_some(value.round() as i64)
}

/// A day (days since 1970-01-01) as `YYYY-MM-DD`.
pub(crate) fn date(days: i64) -> String {
    let (y, m, d) = berth_meta::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Today's date (UTC) as `YYYY-MM-DD`.
pub(crate) fn today() -> String {
    date(berth_meta::now_ms().div_euclid(86_400_000))
}

/// Milliseconds since 1970 of Harbor's timestamps (`2026-12-03T18:53:23.123Z`).
pub(crate) fn parse_time(text: &str) -> Option<i64> {
    let (date, time) = text.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let time = time.trim_end_matches('Z');
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut t = hms.split(':').map(|p| p.parse::<i64>().ok());
    let (h, min, s) = (t.next()??, t.next()??, t.next()??);
    let millis: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
    Some(
        ((berth_meta::days_from_civil(y, m, day) * 24 + h) * 60 + min) * 60_000 + s * 1000 + millis,
    )
}

/// A timestamp as people read it: `5 min ago` for recent ones, else the date and minute.
/// Harbor's zero time (`0001-…`) is `never`.
pub(crate) fn when(text: &str) -> String {
    if text.is_empty() || text.starts_with("0001-") {
        return "never".into();
    }
    let Some(ms) = parse_time(text) else {
        return text.to_string();
    };
    relative(ms, berth_meta::now_ms()).unwrap_or_else(|| {
        let shown = text.replace('T', " ");
        shown
            .get(..16)
            .map_or(shown.clone(), |s| format!("{s} UTC"))
    })
}

fn relative(ms: i64, now: i64) -> Option<String> {
    let ago = (now - ms) / 1000;
    Some(match ago {
        i64::MIN..=-1 => return None,
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", ago / 60),
        3600..=86_399 => format!("{} h ago", ago / 3600),
        86_400..=604_799 => format!("{} days ago", ago / 86_400),
        _ => return None,
    })
}

/// `sha256:0123…` shortened to its first 12 hex digits, for tables.
/// `n` with the noun in the right number: "1 repository", "3 repositories".
pub(crate) fn count(n: impl Into<i64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(crate) fn short_digest(digest: &str) -> &str {
    let hex_start = digest.find(':').map_or(0, |i| i + 1);
    digest.get(..hex_start + 12).unwrap_or(digest)
}

/// `repo@sha256:<64 hex>` with the digest shortened; `repo:tag` as it is.
pub(crate) fn short_reference(reference: &str) -> String {
    match reference.split_once('@') {
        Some((repository, digest)) => format!("{repository}@{}", short_digest(digest)),
        None => reference.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_as_people_write_them() {
        assert_eq!(size_bytes("500 MiB"), Some(500 << 20));
        assert_eq!(size_bytes("20GiB"), Some(20 << 30));
        assert_eq!(size_bytes("1.5 tb"), Some(3 << 39));
        assert_eq!(size_bytes("4096"), Some(4096));
        assert_eq!(size_bytes("lots"), None);
        assert_eq!(size_bytes("5 parsecs"), None);
        assert_eq!(size_bytes(&bytes(20 << 30)), Some(20 << 30));
    }

    #[test]
    fn references_keep_tags_and_shorten_digests() {
        assert_eq!(short_reference("team/app:v1"), "team/app:v1");
        let digest = format!("sha256:{}", "ab".repeat(32));
        assert_eq!(
            short_reference(&format!("a/b@{digest}")),
            "a/b@sha256:abababababab"
        );
    }

    #[test]
    fn counts_take_the_right_number() {
        assert_eq!(count(1, "repository", "repositories"), "1 repository");
        assert_eq!(count(0, "repository", "repositories"), "0 repositories");
    }

    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(50 << 20), "50 MiB");
    }

    #[test]
    fn harbor_times_parse_and_read_relative() {
        assert_eq!(parse_time("1970-01-01T00:00:01.500Z"), Some(1500));
        assert_eq!(
            parse_time("2025-12-02T00:00:00.123Z"),
            Some(1_764_633_600_123)
        );
        assert_eq!(relative(0, 120_000).as_deref(), Some("2 min ago"));
        assert_eq!(relative(0, 30 * 86_400_000), None);
        assert_eq!(when("0001-01-01T00:00:00.000Z"), "never");
        assert_eq!(when("2020-01-02T03:04:05.000Z"), "2020-01-02 03:04 UTC");
    }

    #[test]
    fn digests_shorten_to_twelve_digits() {
        assert_eq!(
            short_digest("sha256:0123456789abcdef"),
            "sha256:0123456789ab"
        );
        assert_eq!(short_digest("x"), "x");
    }
}

/// JSON laid out with two-space indents, keys in the order they were written (a
/// manifest reads as it was pushed). Text that is not JSON is returned as it is.
pub(crate) fn pretty_json(raw: &str) -> String {
    if serde_json::from_str::<serde::de::IgnoredAny>(raw).is_err() {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n("  ", depth));
    };
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '{' | '[' => {
                out.push(c);
                let close = if c == '{' { '}' } else { ']' };
                while chars.peek().is_some_and(|n| n.is_whitespace()) {
                    chars.next();
                }
                if chars.peek() == Some(&close) {
                    chars.next();
                    out.push(close);
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod json_tests {
    #[test]
    fn json_is_indented_in_its_own_key_order() {
        assert_eq!(
            super::pretty_json(r#"{"z":1,"a":[1, {"s":"x,\"y"}],"e":{}}"#),
            "{\n  \"z\": 1,\n  \"a\": [\n    1,\n    {\n      \"s\": \"x,\\\"y\"\n    }\n  ],\n  \"e\": {}\n}"
        );
        assert_eq!(super::pretty_json("not json"), "not json");
    }
}
