//! The two range grammars of the distribution API: `Content-Range: <start>-<end>` on chunk
//! uploads, and `Range: bytes=...` on blob downloads.

/// An inclusive byte range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

impl ByteRange {
    pub fn len(&self) -> u64 {
        self.end - self.start + 1
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// The part of `0..len` this range covers, as a half-open range (cut at `len`).
    pub fn within(&self, len: u64) -> std::ops::Range<u64> {
        self.start.min(len)..self.start.saturating_add(self.len()).min(len)
    }
}

/// Parses a chunk's `Content-Range` (`0-1023`; a leading `bytes ` or `bytes=` is tolerated).
/// Returns `None` when it is malformed or `end < start`.
pub fn parse_content_range(value: &str) -> Option<ByteRange> {
    let v = value.trim();
    let v = v
        .strip_prefix("bytes=")
        .or_else(|| v.strip_prefix("bytes "))
        .unwrap_or(v);
    // `bytes 0-9/10` (RFC 9110 form): the total after '/' is ignored.
    let v = v.split('/').next()?;
    let (s, e) = v.split_once('-')?;
    let start = parse_u64(s)?;
    let end = parse_u64(e)?;
    (end >= start).then_some(ByteRange { start, end })
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The outcome of a download `Range` header against a blob of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: serve the whole blob (RFC 9110 says to ignore what we don't parse).
    Full,
    /// Serve this part with 206.
    Partial(ByteRange),
    /// Answer 416.
    Unsatisfiable,
}

/// Resolves a `Range` header value for a blob of `len` bytes. Only a single range is
/// supported; a multi-range request is served whole, which RFC 9110 allows.
pub fn parse_range(value: &str, len: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((s, e)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    match (s.is_empty(), e.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match parse_u64(e) {
            Some(0) => RangeRequest::Unsatisfiable,
            Some(n) if len > 0 => RangeRequest::Partial(ByteRange {
                start: len.saturating_sub(n),
                end: len - 1,
            }),
            Some(_) => RangeRequest::Unsatisfiable,
            None => RangeRequest::Full,
        },
        (false, _) => {
            let Some(start) = parse_u64(s) else {
                return RangeRequest::Full;
            };
            let end = if e.is_empty() {
                None
            } else {
                match parse_u64(e) {
                    Some(end) if end >= start => Some(end),
                    _ => return RangeRequest::Full,
                }
            };
            if start >= len {
                return RangeRequest::Unsatisfiable;
            }
            let end = end.map_or(len - 1, |end| end.min(len - 1));
            RangeRequest::Partial(ByteRange { start, end })
        }
        (true, true) => RangeRequest::Full,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_within_a_length() {
        let r = ByteRange { start: 2, end: 7 };
        assert_eq!(r.within(100), 2..8);
        assert_eq!(r.within(5), 2..5);
        assert_eq!(r.within(1), 1..1);
    }

    #[test]
    fn content_range() {
        assert_eq!(
            parse_content_range("0-9"),
            Some(ByteRange { start: 0, end: 9 })
        );
        assert_eq!(
            parse_content_range("bytes 10-19/100"),
            Some(ByteRange { start: 10, end: 19 })
        );
        assert_eq!(
            parse_content_range("bytes=5-5"),
            Some(ByteRange { start: 5, end: 5 })
        );
        for bad in [
            "",
            "9-0",
            "a-b",
            "-1",
            "1-",
            "+1-2",
            "1-2-3",
            "99999999999999999999-1",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn download_range() {
        let p = |s, e| RangeRequest::Partial(ByteRange { start: s, end: e });
        assert_eq!(parse_range("bytes=0-9", 100), p(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), p(90, 99));
        assert_eq!(parse_range("bytes=90-200", 100), p(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), p(90, 99));
        assert_eq!(parse_range("bytes=-1000", 100), p(0, 99));
        assert_eq!(parse_range("bytes=100-", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-", 0), RangeRequest::Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), RangeRequest::Full);
        assert_eq!(parse_range("items=0-1", 100), RangeRequest::Full);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeRequest::Full);
    }
}
