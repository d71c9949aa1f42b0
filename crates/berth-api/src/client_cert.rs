//! The user a verified client certificate names: its subject's common name. Only a few
//! DER structures are walked, every length checked; anything unexpected yields no name.

/// One DER element: (tag, contents, rest of input).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[count..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

/// The subject CN of a DER certificate, if it is plain text.
pub fn common_name(cert_der: &[u8]) -> Option<String> {
    let (SEQUENCE, cert, _) = element(cert_der)? else {
        return None;
    };
    let (SEQUENCE, tbs, _) = element(cert)? else {
        return None;
    };
    let mut rest = tbs;
    // [0] version is optional; then serial, signature, issuer, validity, subject.
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for _ in 0..4 {
        rest = element(rest)?.2;
    }
    let (SEQUENCE, mut name, _) = element(rest)? else {
        return None;
    };
    let mut found = None;
    while !name.is_empty() {
        let (tag, rdn, next) = element(name)?;
        name = next;
        if tag != SET {
            return None;
        }
        let (SEQUENCE, attribute, _) = element(rdn)? else {
            return None;
        };
        let (OID, oid, value) = element(attribute)? else {
            return None;
        };
        if oid == COMMON_NAME {
            // UTF8String, PrintableString or IA5String.
            let (tag, text, _) = element(value)?;
            if matches!(tag, 0x0c | 0x13 | 0x16) {
                found = std::str::from_utf8(text).ok().map(str::to_string);
            }
        }
    }
    found.filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    // `openssl req -x509 ... -subj "/O=berth tests/CN=ci-robot"`
    const CERT: &str = "MIIBpzCCAU2gAwIBAgIUZAbdX3r6efFP8BGfwBbRvvqTDS8wCgYIKoZIzj0EAwIwKTEUMBIGA1UECgwLYmVydGggdGVzdHMxETAPBgNVBAMMCGNpLXJvYm90MB4XDTI2MTEyMzIzMzU0MFoXDTM2MTEyMDIzMzU0MFowKTEUMBIGA1UECgwLYmVydGggdGVzdHMxETAPBgNVBAMMCGNpLXJvYm90MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEi0fcI7WSKJ/uRFYMTxs13vNLo8mP3hbl+63mdpFK3b4gWmS94yotOvlSG9nnBXz7UwxsM4uVEJlAFFZpAziXa6NTMFEwHQYDVR0OBBYEFJbqWhSIEdxVAey1BZaCtdSE+HrzMB8GA1UdIwQYMBaAFJbqWhSIEdxVAey1BZaCtdSE+HrzMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgLJC4yh/gkP7EgJmw8k03GIJtvfsCQrc1hhpYA74rFKMCIQC//sWilp+b46Mv/xur7QT1Zwui4b4X5SEDwgSdENvkQw==";

    #[test]
    fn reads_the_subject_common_name() {
        let der = base64::engine::general_purpose::STANDARD
            .decode(CERT)
            .unwrap();
        assert_eq!(common_name(&der).as_deref(), Some("ci-robot"));
    }

    #[test]
    fn garbage_and_truncation_yield_nothing() {
        let der = base64::engine::general_purpose::STANDARD
            .decode(CERT)
            .unwrap();
        for cut in [0, 1, 2, 10, 100, der.len() - 1] {
            assert_eq!(common_name(&der[..cut]), None, "cut at {cut}");
        }
        assert_eq!(common_name(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(common_name(b"not a certificate"), None);
    }
}
