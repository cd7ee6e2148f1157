//! One CloudTrail record, typed, borrowing from the file's bytes.
//!
//! Only the fields egresswatch reads are declared; serde skips the rest without allocating.
//! Strings are `Cow`: borrowed from the input unless they hold escapes. Every field is optional
//! because real trails omit or null almost any of them (see ../shared/reference/README.md):
//! `userAgent`, `accessKeyId`, `requestParameters` and `additionalEventData` may be missing or
//! null, and `bytesTransferredOut` is an integer in some records and a float in others.
//! Everything in a record is attacker-controlled text: it is never interpreted, only counted,
//! compared and (escaped) displayed.

use std::borrow::Cow;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// How a record's principal names an AWS service acting on its own behalf
/// (`AWS service: cloudtrail.amazonaws.com`); the SQL sources write the same.
pub const AWS_SERVICE_PREFIX: &str = "AWS service: ";

#[derive(Debug, Deserialize)]
pub struct Record<'a> {
    #[serde(rename = "eventTime", borrow, default, deserialize_with = "borrowed")]
    pub event_time: Option<Cow<'a, str>>,
    #[serde(rename = "eventSource", borrow, default, deserialize_with = "borrowed")]
    pub event_source: Option<Cow<'a, str>>,
    #[serde(rename = "eventName", borrow, default, deserialize_with = "borrowed")]
    pub event_name: Option<Cow<'a, str>>,
    #[serde(rename = "awsRegion", borrow, default, deserialize_with = "borrowed")]
    pub aws_region: Option<Cow<'a, str>>,
    #[serde(
        rename = "sourceIPAddress",
        borrow,
        default,
        deserialize_with = "borrowed"
    )]
    pub source_ip: Option<Cow<'a, str>>,
    #[serde(rename = "userAgent", borrow, default, deserialize_with = "borrowed")]
    pub user_agent: Option<Cow<'a, str>>,
    #[serde(rename = "userIdentity", borrow, default)]
    pub user_identity: Option<UserIdentity<'a>>,
    /// Kept raw: its shape depends on the event, and only a few events need more than the
    /// bucket and key (see [`ObjectParams`]).
    #[serde(rename = "requestParameters", borrow, default)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(rename = "additionalEventData", borrow, default)]
    pub additional: Option<AdditionalEventData<'a>>,
    #[serde(rename = "errorCode", borrow, default, deserialize_with = "borrowed")]
    pub error_code: Option<Cow<'a, str>>,
    #[serde(
        rename = "recipientAccountId",
        borrow,
        default,
        deserialize_with = "borrowed"
    )]
    pub recipient_account_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "vpcEndpointId",
        borrow,
        default,
        deserialize_with = "borrowed"
    )]
    pub vpc_endpoint_id: Option<Cow<'a, str>>,
    #[serde(
        rename = "eventCategory",
        borrow,
        default,
        deserialize_with = "borrowed"
    )]
    pub event_category: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UserIdentity<'a> {
    #[serde(rename = "type", borrow, default, deserialize_with = "borrowed")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(rename = "principalId", borrow, default, deserialize_with = "borrowed")]
    pub principal_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub arn: Option<Cow<'a, str>>,
    #[serde(rename = "accountId", borrow, default, deserialize_with = "borrowed")]
    pub account_id: Option<Cow<'a, str>>,
    #[serde(rename = "invokedBy", borrow, default, deserialize_with = "borrowed")]
    pub invoked_by: Option<Cow<'a, str>>,
    #[serde(rename = "sessionContext", borrow, default)]
    pub session_context: Option<SessionContext<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SessionContext<'a> {
    #[serde(rename = "sessionIssuer", borrow, default)]
    pub session_issuer: Option<SessionIssuer<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct SessionIssuer<'a> {
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub arn: Option<Cow<'a, str>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AdditionalEventData<'a> {
    #[serde(
        rename = "bytesTransferredOut",
        default,
        deserialize_with = "lenient_bytes"
    )]
    pub bytes_out: Option<ByteCount>,
    #[serde(
        rename = "AuthenticationMethod",
        borrow,
        default,
        deserialize_with = "borrowed"
    )]
    pub authentication_method: Option<Cow<'a, str>>,
}

/// The object-level request parameters (GetObject and friends).
#[derive(Debug, Default, Deserialize)]
pub struct ObjectParams<'a> {
    #[serde(rename = "bucketName", borrow, default, deserialize_with = "borrowed")]
    pub bucket: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "borrowed")]
    pub key: Option<Cow<'a, str>>,
}

/// An optional string, borrowed from the input unless it holds escapes. (serde borrows a
/// `Cow<str>` field, but not one inside an `Option`: that one is always copied — ten
/// allocations a record, a quarter of a trail scan's time, before this.)
fn borrowed<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Borrowed<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Borrowed<'a>>::deserialize(d)?.map(|b| b.0))
}

/// S3's largest object: 5 TiB. One GetObject cannot send more (a ranged GET sends less).
pub const MAX_OBJECT_BYTES: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// Why a `bytesTransferredOut` is not a byte count one GetObject can have sent.
pub const BYTES_ABOVE_MAX: &str = "bytesTransferredOut above S3's largest object (5 TiB)";
pub const BYTES_NEGATIVE: &str = "bytesTransferredOut negative";
pub const BYTES_NOT_A_NUMBER: &str = "bytesTransferredOut not a number";

/// `bytesTransferredOut` as written: a plausible count, or why it is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteCount {
    /// At most [`MAX_OBJECT_BYTES`].
    Plausible(u64),
    /// Read leniently anyway (negative and unreadable as 0, huge values saturated), with why
    /// it cannot be believed; the analysis counts such a record as bad.
    Implausible { lenient: u64, why: &'static str },
}

impl ByteCount {
    fn of_u64(v: u64) -> Self {
        if v > MAX_OBJECT_BYTES {
            ByteCount::Implausible {
                lenient: v,
                why: BYTES_ABOVE_MAX,
            }
        } else {
            ByteCount::Plausible(v)
        }
    }

    fn of_f64(v: f64) -> Self {
        if v.is_nan() {
            ByteCount::Implausible {
                lenient: 0,
                why: BYTES_NOT_A_NUMBER,
            }
        } else if v < 0.0 {
            ByteCount::Implausible {
                lenient: 0,
                why: BYTES_NEGATIVE,
            }
        } else {
            // `as` saturates: 1e308 and infinity read as u64::MAX, then fail the bound.
            Self::of_u64(v.round() as u64)
        }
    }

    /// The count, however implausible (0 for what is not a count).
    pub fn lenient(self) -> u64 {
        match self {
            ByteCount::Plausible(v) | ByteCount::Implausible { lenient: v, .. } => v,
        }
    }
}

/// `bytesTransferredOut` as an integer, a float (`1234.0`), a numeric string or null.
fn lenient_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ByteCount>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<ByteCount>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a byte count")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(ByteCount::of_u64(v)))
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Some(match u64::try_from(v) {
                Ok(v) => ByteCount::of_u64(v),
                Err(_) => ByteCount::Implausible {
                    lenient: 0,
                    why: BYTES_NEGATIVE,
                },
            }))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(ByteCount::of_f64(v)))
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Some(match v.trim().parse::<f64>() {
                Ok(f) => ByteCount::of_f64(f),
                Err(_) => ByteCount::Implausible {
                    lenient: 0,
                    why: BYTES_NOT_A_NUMBER,
                },
            }))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(V)
        }
    }
    d.deserialize_option(V)
}

impl<'a> Record<'a> {
    /// A record holding only who called, for judging a caller a query engine grouped (the
    /// same methods name and flag it, whichever source it came from).
    pub fn identity_only(
        identity: UserIdentity<'a>,
        recipient_account_id: Option<&'a str>,
        vpc_endpoint: bool,
    ) -> Record<'a> {
        Record {
            event_time: None,
            event_source: None,
            event_name: None,
            aws_region: None,
            source_ip: None,
            user_agent: None,
            user_identity: Some(identity),
            request_parameters: None,
            additional: None,
            error_code: None,
            recipient_account_id: recipient_account_id.map(Cow::Borrowed),
            vpc_endpoint_id: vpc_endpoint.then_some(Cow::Borrowed("vpce")),
            event_category: None,
        }
    }

    pub fn name(&self) -> &str {
        self.event_name.as_deref().unwrap_or("")
    }

    pub fn is_s3(&self) -> bool {
        self.event_source.as_deref() == Some("s3.amazonaws.com")
    }

    /// The bucket and key, for object-level events; empty when absent or unreadable.
    pub fn object(&self) -> ObjectParams<'a> {
        self.request_parameters
            .and_then(|raw| serde_json::from_str::<ObjectParams<'a>>(raw.get()).ok())
            .unwrap_or_default()
    }

    /// The event time as seconds since the epoch (UTC), if it reads as `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn epoch_seconds(&self) -> Option<i64> {
        parse_event_time(self.event_time.as_deref()?)
    }

    /// `bytesTransferredOut`, read leniently (0 when absent or not a number, saturated when
    /// huge): see [`Record::checked_bytes_out`] for whether it can be believed.
    pub fn bytes_out(&self) -> u64 {
        self.additional
            .as_ref()
            .and_then(|a| a.bytes_out)
            .map_or(0, ByteCount::lenient)
    }

    /// `bytesTransferredOut` when it is a count one GetObject can have sent (0 when absent),
    /// or why not: negative, not a number, or above S3's largest object.
    pub fn checked_bytes_out(&self) -> Result<u64, &'static str> {
        match self.additional.as_ref().and_then(|a| a.bytes_out) {
            None => Ok(0),
            Some(ByteCount::Plausible(v)) => Ok(v),
            Some(ByteCount::Implausible { why, .. }) => Err(why),
        }
    }

    /// A presigned URL (`AuthenticationMethod: QueryString`).
    pub fn presigned(&self) -> bool {
        self.additional
            .as_ref()
            .and_then(|a| a.authentication_method.as_deref())
            == Some("QueryString")
    }

    pub fn is_anonymous(&self) -> bool {
        let Some(u) = &self.user_identity else {
            return false;
        };
        matches!(u.account_id.as_deref(), Some("ANONYMOUS_PRINCIPAL"))
            || matches!(u.kind.as_deref(), Some("AnonymousPrincipal"))
            || matches!(u.principal_id.as_deref(), Some("ANONYMOUS_PRINCIPAL"))
    }

    pub fn is_aws_service(&self) -> bool {
        self.user_identity.as_ref().is_some_and(|u| {
            u.kind.as_deref() == Some("AWSService") || (u.arn.is_none() && u.invoked_by.is_some())
        })
    }

    /// Who called: the ARN, or a readable label for AWS services and anonymous callers.
    pub fn principal(&self) -> Cow<'a, str> {
        if self.is_anonymous() {
            return Cow::Borrowed("anonymous");
        }
        let Some(u) = &self.user_identity else {
            return Cow::Borrowed("unknown");
        };
        if let Some(arn) = &u.arn {
            return arn.clone();
        }
        if let Some(by) = &u.invoked_by {
            return Cow::Owned(format!("{AWS_SERVICE_PREFIX}{by}"));
        }
        match (&u.kind, &u.principal_id) {
            (Some(k), Some(p)) if !p.is_empty() => Cow::Owned(format!("{k}: {p}")),
            (Some(k), _) => Cow::Owned(k.to_string()),
            _ => Cow::Borrowed("unknown"),
        }
    }

    /// For assumed roles, the role behind the session.
    pub fn role(&self) -> Option<&str> {
        self.user_identity
            .as_ref()?
            .session_context
            .as_ref()?
            .session_issuer
            .as_ref()?
            .arn
            .as_deref()
    }

    /// The calling principal's account, when it is not the bucket owner's (and the caller is
    /// neither anonymous nor an AWS service).
    pub fn cross_account(&self) -> Option<&str> {
        if self.is_anonymous() || self.is_aws_service() {
            return None;
        }
        let caller = self.user_identity.as_ref()?.account_id.as_deref()?;
        let owner = self.recipient_account_id.as_deref()?;
        (caller != owner && !caller.is_empty()).then_some(caller)
    }
}

/// `2023-07-10T11:42:36Z` → seconds since the epoch. Hand-rolled: it runs for every record.
pub fn parse_event_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let n = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se) = (n(11..13)?, n(14..16)?, n(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let text = r#"{"eventTime":"2026-06-15T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","sourceIPAddress":"203.0.113.9","userAgent":"rclone\/v1.66","recipientAccountId":"1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a","sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::1:role/r"}}},"requestParameters":{"bucketName":"b","key":"k\u00e9"},"additionalEventData":{"bytesTransferredOut":5,"AuthenticationMethod":"AuthHeader"}}"#;
        let r: Record<'_> = serde_json::from_str(text).unwrap();
        let borrowed = |c: &Option<Cow<'_, str>>| matches!(c, Some(Cow::Borrowed(_)));
        assert!(borrowed(&r.event_time) && borrowed(&r.event_name) && borrowed(&r.source_ip));
        assert!(borrowed(&r.recipient_account_id));
        let u = r.user_identity.as_ref().unwrap();
        assert!(borrowed(&u.arn) && borrowed(&u.kind));
        let issuer = u
            .session_context
            .as_ref()
            .unwrap()
            .session_issuer
            .as_ref()
            .unwrap();
        assert!(borrowed(&issuer.arn));
        assert!(borrowed(
            &r.additional.as_ref().unwrap().authentication_method
        ));
        // An escape makes a copy, with the text unescaped.
        assert!(matches!(&r.user_agent, Some(Cow::Owned(s)) if s == "rclone/v1.66"));
        let o = r.object();
        assert!(borrowed(&o.bucket));
        assert!(matches!(&o.key, Some(Cow::Owned(s)) if s == "ké"));
        // Absent and null fields are None.
        assert!(r.error_code.is_none() && r.vpc_endpoint_id.is_none());
        let r: Record<'_> = serde_json::from_str(r#"{"errorCode":null}"#).unwrap();
        assert!(r.error_code.is_none() && r.event_time.is_none());
    }

    #[test]
    fn event_time_matches_chrono() {
        for s in [
            "2023-07-10T11:42:36Z",
            "2024-02-29T00:00:00Z",
            "1999-12-31T23:59:59Z",
            "2026-03-01T12:00:00Z",
        ] {
            let c = chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp();
            assert_eq!(parse_event_time(s), Some(c), "{s}");
        }
        assert_eq!(parse_event_time("2023-13-10T11:42:36Z"), None);
        assert_eq!(parse_event_time("yesterday"), None);
    }

    #[test]
    fn implausible_byte_counts_say_why() {
        let read = |v: &str| {
            let text = format!(r#"{{"additionalEventData":{{"bytesTransferredOut":{v}}}}}"#);
            let r: Record = serde_json::from_str(&text).unwrap();
            (r.bytes_out(), r.checked_bytes_out())
        };
        let five_tib = MAX_OBJECT_BYTES;
        assert_eq!(read(&five_tib.to_string()), (five_tib, Ok(five_tib)));
        assert_eq!(read("1234.0"), (1234, Ok(1234)));
        assert_eq!(read(r#"" 77 ""#), (77, Ok(77)));
        assert_eq!(read("null"), (0, Ok(0)));
        for (v, lenient, why) in [
            ((five_tib + 1).to_string(), five_tib + 1, BYTES_ABOVE_MAX),
            ("1e308".into(), u64::MAX, BYTES_ABOVE_MAX),
            (u64::MAX.to_string(), u64::MAX, BYTES_ABOVE_MAX),
            (r#""Infinity""#.into(), u64::MAX, BYTES_ABOVE_MAX),
            ("-5".into(), 0, BYTES_NEGATIVE),
            ("-0.5".into(), 0, BYTES_NEGATIVE),
            (r#""-5""#.into(), 0, BYTES_NEGATIVE),
            (r#""abc""#.into(), 0, BYTES_NOT_A_NUMBER),
            (r#""NaN""#.into(), 0, BYTES_NOT_A_NUMBER),
            (r#""""#.into(), 0, BYTES_NOT_A_NUMBER),
        ] {
            assert_eq!(read(&v), (lenient, Err(why)), "{v}");
        }
        let none: Record = serde_json::from_str("{}").unwrap();
        assert_eq!(none.checked_bytes_out(), Ok(0));
    }

    #[test]
    fn quirks_parse() {
        let r: Record = serde_json::from_str(
            r#"{"eventTime":"2023-07-10T11:42:36Z","eventSource":"s3.amazonaws.com","eventName":"GetObject",
               "userIdentity":{"type":"AWSService","invokedBy":"cloudtrail.amazonaws.com"},
               "sourceIPAddress":"cloudtrail.amazonaws.com","userAgent":null,"requestParameters":null,
               "additionalEventData":{"bytesTransferredOut":1234.0,"AuthenticationMethod":"QueryString"}}"#,
        )
        .unwrap();
        assert_eq!(r.bytes_out(), 1234);
        assert!(r.presigned() && r.is_aws_service());
        assert_eq!(r.principal(), "AWS service: cloudtrail.amazonaws.com");
        assert!(r.object().bucket.is_none() && r.user_agent.is_none());
        let anon: Record = serde_json::from_str(
            r#"{"userIdentity":{"type":"AWSAccount","principalId":"","accountId":"ANONYMOUS_PRINCIPAL"},"recipientAccountId":"1","additionalEventData":{"bytesTransferredOut":"77"}}"#,
        )
        .unwrap();
        assert_eq!(anon.principal(), "anonymous");
        assert_eq!(anon.bytes_out(), 77);
        assert_eq!(anon.checked_bytes_out(), Ok(77));
        assert_eq!(anon.cross_account(), None);
        let role: Record = serde_json::from_str(
            r#"{"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::2:assumed-role/R/s","accountId":"2",
               "sessionContext":{"sessionIssuer":{"arn":"arn:aws:iam::2:role/R"}}},"recipientAccountId":"1",
               "requestParameters":{"bucketName":"b","key":"k\u00e9y","Host":"b.s3.amazonaws.com"}}"#,
        )
        .unwrap();
        assert_eq!(role.role(), Some("arn:aws:iam::2:role/R"));
        assert_eq!(role.cross_account(), Some("2"));
        assert_eq!(role.object().key.as_deref(), Some("kéy"));
    }
}
