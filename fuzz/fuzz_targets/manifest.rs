//! Manifest parsing must never panic, and what it accepts must be self-consistent.
#![no_main]
use berth_oci::{ParsedManifest, media};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte picks the Content-Type the "client" sent.
    let (ct, body) = match data.split_first() {
        Some((b, rest)) => {
            let ct = match b % 5 {
                0 => None,
                1 => Some(media::OCI_MANIFEST),
                2 => Some(media::OCI_INDEX),
                3 => Some(media::DOCKER_MANIFEST),
                _ => Some(media::DOCKER_MANIFEST_LIST),
            };
            (ct, rest)
        }
        None => (None, data),
    };
    if let Ok(m) = ParsedManifest::parse(body, ct) {
        assert!(media::is_pushable_manifest(&m.media_type));
        assert_eq!(m.is_index(), m.config.is_none());
        if m.is_index() {
            assert!(m.layers.is_empty());
        } else {
            assert!(m.manifests.is_empty());
        }
    }
    let _ = ParsedManifest::parse_stored(body);
});
