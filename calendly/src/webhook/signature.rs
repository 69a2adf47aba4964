//! The `Calendly-Webhook-Signature` header: `t=<unix seconds>,v1=<hex HMAC-SHA256>`.
//!
//! The signed string is `"{t}.{raw body}"`, keyed with the signing key's UTF-8 bytes. Always
//! verify the exact bytes received, before parsing JSON.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::secrets::SigningKey;

/// The header Calendly puts the signature in (frameworks see it lower-cased).
pub const SIGNATURE_HEADER: &str = "Calendly-Webhook-Signature";

/// Calendly's own example rejects deliveries whose timestamp is more than 3 minutes off.
pub const DEFAULT_TOLERANCE_SECS: i64 = 180;

/// Why a delivery's signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature header is missing or empty")]
    Missing,
    #[error("the signature header is malformed")]
    Malformed,
    #[error("the signature timestamp is not a number of seconds")]
    BadTimestamp,
    #[error("the signature header has more than one timestamp")]
    RepeatedTimestamp,
    #[error("the signature header carries no v1 signature")]
    EmptySignature,
    #[error("the signature timestamp is too old")]
    Stale,
    #[error("the signature timestamp is in the future")]
    Future,
    #[error("the signature does not match the body")]
    Mismatch,
}

/// A parsed signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader {
    /// Unix seconds when Calendly signed the delivery.
    pub t: i64,
    /// The (first) `v1` signature: lower-case hex.
    pub v1: String,
    /// Further `v1` values, if Calendly ever sends several (e.g. during key rotation).
    pub other_v1: Vec<String>,
}

impl SignatureHeader {
    /// A header with a single signature, e.g. for a simulator: `SignatureHeader::new(t, sign(..))`.
    pub fn new(t: i64, v1: String) -> Self {
        SignatureHeader {
            t,
            v1,
            other_v1: Vec::new(),
        }
    }

    /// Parses `t=…,v1=…` strictly: exactly one numeric `t`, at least one non-empty hex `v1`;
    /// unknown keys are ignored.
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        if header.trim().is_empty() {
            return Err(SignatureError::Missing);
        }
        let mut t = None;
        let mut v1s = Vec::new();
        for part in header.split(',') {
            let (key, value) = part
                .trim()
                .split_once('=')
                .ok_or(SignatureError::Malformed)?;
            match key {
                "" => return Err(SignatureError::Malformed),
                "t" => {
                    if t.is_some() {
                        return Err(SignatureError::RepeatedTimestamp);
                    }
                    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(SignatureError::BadTimestamp);
                    }
                    t = Some(
                        value
                            .parse::<i64>()
                            .map_err(|_| SignatureError::BadTimestamp)?,
                    );
                }
                "v1" => {
                    if value.is_empty() {
                        return Err(SignatureError::EmptySignature);
                    }
                    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(SignatureError::Malformed);
                    }
                    v1s.push(value.to_ascii_lowercase());
                }
                _ => {}
            }
        }
        let t = t.ok_or(SignatureError::Malformed)?;
        let mut v1s = v1s.into_iter();
        let v1 = v1s.next().ok_or(SignatureError::EmptySignature)?;
        Ok(SignatureHeader {
            t,
            v1,
            other_v1: v1s.collect(),
        })
    }

    /// Every `v1` signature in the header.
    pub fn signatures(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.v1.as_str()).chain(self.other_v1.iter().map(String::as_str))
    }
}

impl fmt::Display for SignatureHeader {
    /// Formats the header value Calendly sends: `t=…,v1=…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={}", self.t)?;
        for v1 in self.signatures() {
            write!(f, ",v1={v1}")?;
        }
        Ok(())
    }
}

/// Lower-case hex HMAC-SHA256 of `"{t}.{body}"` keyed with the signing key's UTF-8 bytes.
pub fn sign(key: &SigningKey, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose_secret().as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks the timestamp is within `tolerance_secs` of `now_unix`, then that one `v1` is the
/// HMAC of the exact `body` bytes (compared in constant time).
pub fn verify(
    key: &SigningKey,
    header: &SignatureHeader,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    verify_any([key], header, body, now_unix, tolerance_secs)
}

/// [`verify`] against several keys: the current app signing key and, during a rotation, the
/// previous one. The timestamp is checked once; any key whose signature matches is enough.
pub fn verify_any<'k>(
    keys: impl IntoIterator<Item = &'k SigningKey>,
    header: &SignatureHeader,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let age = i128::from(now_unix) - i128::from(header.t);
    if age > i128::from(tolerance_secs) {
        return Err(SignatureError::Stale);
    }
    if -age > i128::from(tolerance_secs) {
        return Err(SignatureError::Future);
    }
    let mut matches = false;
    for key in keys {
        let expected = sign(key, header.t, body);
        // Every key and candidate is compared (no early exit), in constant time per comparison.
        for candidate in header.signatures() {
            matches |= candidate.len() == expected.len()
                && bool::from(candidate.as_bytes().ct_eq(expected.as_bytes()));
        }
    }
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "5mEzn9C-I28UtwOjZJtFoob0sAAFZ95GbZkqj4y3i0I";
    const BODY: &[u8] =
        br#"{"event":"invitee.created","created_at":"2023-11-14T22:13:20.000000Z"}"#;
    const T: i64 = 1_700_000_000;
    const SIG: &str = "045c8b453b93407b535780e81c2070f2ab5e92cd63470cf989610a169a7b7853";

    fn key() -> SigningKey {
        SigningKey::new(KEY.into())
    }

    #[test]
    fn signing_matches_the_documented_test_vector() {
        assert_eq!(sign(&key(), T, BODY), SIG);
    }

    #[test]
    fn the_documented_header_verifies() {
        let header = SignatureHeader::parse(&format!("t={T},v1={SIG}")).unwrap();
        assert_eq!(header, SignatureHeader::new(T, SIG.into()));
        assert_eq!(
            verify(&key(), &header, BODY, T + 10, DEFAULT_TOLERANCE_SECS),
            Ok(())
        );
    }

    #[test]
    fn display_round_trips_through_parse() {
        let header = SignatureHeader::new(T, sign(&key(), T, BODY));
        assert_eq!(header.to_string(), format!("t={T},v1={SIG}"));
        assert_eq!(SignatureHeader::parse(&header.to_string()).unwrap(), header);
    }

    #[test]
    fn a_changed_body_is_a_mismatch() {
        let header = SignatureHeader::new(T, SIG.into());
        let mut body = BODY.to_vec();
        body.push(b' ');
        assert_eq!(
            verify(&key(), &header, &body, T, 180),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_different_key_is_a_mismatch() {
        let header = SignatureHeader::new(T, SIG.into());
        let other = SigningKey::new("another-key".into());
        assert_eq!(
            verify(&other, &header, BODY, T, 180),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_short_signature_is_a_mismatch_not_a_panic() {
        let header = SignatureHeader::parse(&format!("t={T},v1=045c")).unwrap();
        assert_eq!(
            verify(&key(), &header, BODY, T, 180),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn an_old_timestamp_is_stale_and_a_future_one_is_rejected() {
        let header = SignatureHeader::new(T, SIG.into());
        assert_eq!(
            verify(&key(), &header, BODY, T + 181, 180),
            Err(SignatureError::Stale)
        );
        assert_eq!(verify(&key(), &header, BODY, T + 180, 180), Ok(()));
        assert_eq!(
            verify(&key(), &header, BODY, T - 181, 180),
            Err(SignatureError::Future)
        );
        assert_eq!(verify(&key(), &header, BODY, T - 180, 180), Ok(()));
    }

    #[test]
    fn an_absurd_timestamp_does_not_overflow() {
        let header = SignatureHeader::parse(&format!("t={},v1={SIG}", i64::MAX)).unwrap();
        assert_eq!(
            verify(&key(), &header, BODY, i64::MIN, 180),
            Err(SignatureError::Future)
        );
        assert_eq!(
            SignatureHeader::parse(&format!("t=99999999999999999999,v1={SIG}")),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn any_matching_v1_is_accepted() {
        let header =
            SignatureHeader::parse(&format!("t={T},v1={},v1={SIG}", "ab".repeat(32))).unwrap();
        assert_eq!(header.other_v1, [SIG]);
        assert_eq!(verify(&key(), &header, BODY, T, 180), Ok(()));
    }

    #[test]
    fn unknown_keys_are_ignored_and_uppercase_hex_is_normalised() {
        let header =
            SignatureHeader::parse(&format!("v0=zz, t={T}, v1={}", SIG.to_uppercase())).unwrap();
        assert_eq!(header.v1, SIG);
        assert_eq!(verify(&key(), &header, BODY, T, 180), Ok(()));
    }

    #[test]
    fn malformed_headers_are_rejected_with_the_right_reason() {
        use SignatureError::*;
        let cases: &[(&str, SignatureError)] = &[
            ("", Missing),
            ("   ", Missing),
            ("garbage", Malformed),
            ("t=1700000000", EmptySignature),
            ("t=1700000000,v1=", EmptySignature),
            ("v1=abcd", Malformed),
            ("t=,v1=abcd", BadTimestamp),
            ("t=-5,v1=abcd", BadTimestamp),
            ("t=12a,v1=abcd", BadTimestamp),
            ("t=1,t=2,v1=abcd", RepeatedTimestamp),
            ("t=1,v1=xyz", Malformed),
            ("t=1,v1=abcd,", Malformed),
            ("t=1,=x,v1=abcd", Malformed),
        ];
        for (input, expected) in cases {
            assert_eq!(
                SignatureHeader::parse(input),
                Err(*expected),
                "input {input:?}"
            );
        }
    }
}
