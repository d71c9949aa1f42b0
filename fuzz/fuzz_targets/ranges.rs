//! Range parsers: no panics, and every range returned lies inside the blob.
#![no_main]
use berth_oci::range::{RangeRequest, parse_content_range, parse_range};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((len_bytes, rest)) = data.split_at_checked(8) else { return };
    let len = u64::from_le_bytes(len_bytes.try_into().unwrap_or([0; 8]));
    let Ok(s) = std::str::from_utf8(rest) else { return };
    if let Some(r) = parse_content_range(s) {
        assert!(r.start <= r.end);
    }
    if let RangeRequest::Partial(r) = parse_range(s, len) {
        assert!(r.start <= r.end && r.end < len);
    }
});
