//! Just enough X.509 (RFC 5280) DER reading to show a certificate to an admin: subject,
//! issuer, validity and subject alternative names. Verification is rustls/webpki's job;
//! nothing here decides trust.

use serde::Serialize;

/// What `hearth check` shows of one certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateSummary {
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses the certificate is valid for.
    pub subject_alternative_names: Vec<String>,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
}

/// Reads a DER certificate; `None` if it is not one this reader understands.
pub fn summarize(der: &[u8]) -> Option<CertificateSummary> {
    let (certificate, _) = read(der, 0x30)?;
    let (tbs, _) = read(certificate, 0x30)?;
    let mut rest = tbs;
    if rest.first() == Some(&0xA0) {
        rest = read(rest, 0xA0)?.1; // version
    }
    rest = read(rest, 0x02)?.1; // serial number
    rest = read(rest, 0x30)?.1; // signature algorithm
    let (issuer, after) = read(rest, 0x30)?;
    let (validity, after) = read(after, 0x30)?;
    let (subject, after) = read(after, 0x30)?;
    let (_, mut after) = read(after, 0x30)?; // subject public key info
    let (not_before, validity_rest) = read_time(validity)?;
    let (not_after, _) = read_time(validity_rest)?;
    let mut names = Vec::new();
    while let Some(&tag) = after.first() {
        let (content, next) = read(after, tag)?;
        if tag == 0xA3 {
            names = subject_alternative_names(content)?;
        }
        after = next;
    }
    Some(CertificateSummary {
        subject: render_name(subject)?,
        issuer: render_name(issuer)?,
        subject_alternative_names: names,
        not_before,
        not_after,
    })
}

/// One TLV with the expected tag: (content, what follows).
fn read(data: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    if *data.first()? != tag {
        return None;
    }
    let first = *data.get(1)?;
    let (length, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let count = usize::from(first & 0x7F);
        if count == 0 || count > 4 {
            return None;
        }
        let mut length = 0usize;
        for byte in data.get(2..2 + count)? {
            length = (length << 8) | usize::from(*byte);
        }
        (length, 2 + count)
    };
    let content = data.get(header..header.checked_add(length)?)?;
    Some((content, data.get(header + length..)?))
}

/// `Name` as `CN=…, O=…` in the order the certificate lists it.
fn render_name(mut name: &[u8]) -> Option<String> {
    let mut parts = Vec::new();
    while !name.is_empty() {
        let (set, next) = read(name, 0x31)?;
        let (attribute, _) = read(set, 0x30)?;
        let (oid, value) = read(attribute, 0x06)?;
        let tag = *value.first()?;
        let (text, _) = read(value, tag)?;
        let label = match oid {
            [0x55, 0x04, 0x03] => "CN",
            [0x55, 0x04, 0x06] => "C",
            [0x55, 0x04, 0x07] => "L",
            [0x55, 0x04, 0x08] => "ST",
            [0x55, 0x04, 0x0A] => "O",
            [0x55, 0x04, 0x0B] => "OU",
            _ => "?",
        };
        // BMPString (0x1E) is UTF-16; the rest are ASCII or UTF-8.
        let text = if tag == 0x1E {
            let units: Vec<u16> = text
                .chunks(2)
                .map(|pair| {
                    u16::from_be_bytes([*pair.first().unwrap_or(&0), *pair.get(1).unwrap_or(&0)])
                })
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            String::from_utf8_lossy(text).into_owned()
        };
        parts.push(format!("{label}={text}"));
        name = next;
    }
    Some(parts.join(", "))
}

/// The names in the subjectAltName extension (OID 2.5.29.17), from `[3] Extensions`.
fn subject_alternative_names(extensions: &[u8]) -> Option<Vec<String>> {
    let (mut list, _) = read(extensions, 0x30)?;
    let mut names = Vec::new();
    while !list.is_empty() {
        let (extension, next) = read(list, 0x30)?;
        let (oid, mut rest) = read(extension, 0x06)?;
        if rest.first() == Some(&0x01) {
            rest = read(rest, 0x01)?.1; // critical
        }
        if oid == [0x55, 0x1D, 0x11] {
            let (value, _) = read(rest, 0x04)?;
            let (mut general_names, _) = read(value, 0x30)?;
            while let Some(&tag) = general_names.first() {
                let (content, after) = read(general_names, tag)?;
                match (tag, content.len()) {
                    (0x82, _) => names.push(String::from_utf8_lossy(content).into_owned()),
                    (0x87, 4) => {
                        let octets: [u8; 4] = content.try_into().ok()?;
                        names.push(std::net::Ipv4Addr::from(octets).to_string());
                    }
                    (0x87, 16) => {
                        let octets: [u8; 16] = content.try_into().ok()?;
                        names.push(std::net::Ipv6Addr::from(octets).to_string());
                    }
                    _ => {}
                }
                general_names = after;
            }
        }
        list = next;
    }
    Some(names)
}

/// UTCTime (YYMMDDHHMMSSZ, years 1950–2049) or GeneralizedTime (YYYYMMDDHHMMSSZ).
fn read_time(data: &[u8]) -> Option<(i64, &[u8])> {
    let tag = *data.first()?;
    let (content, rest) = read(data, tag)?;
    let text = std::str::from_utf8(content).ok()?.strip_suffix('Z')?;
    let digits = |range: std::ops::Range<usize>| text.get(range)?.parse::<i64>().ok();
    let (year, offset) = match tag {
        0x17 => {
            let short = digits(0..2)?;
            (
                if short < 50 {
                    2000 + short
                } else {
                    1900 + short
                },
                2,
            )
        }
        0x18 => (digits(0..4)?, 4),
        _ => return None,
    };
    let month = digits(offset..offset + 2)?;
    let day = digits(offset + 2..offset + 4)?;
    let hour = digits(offset + 4..offset + 6)?;
    let minute = digits(offset + 6..offset + 8)?;
    let second = digits(offset + 8..offset + 10)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some((
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second,
        rest,
    ))
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_reads_back() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["matrix.example.test".into(), "10.1.2.3".into()])
                .unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "matrix.example.test");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Hearth Test");
        params.not_before = rcgen::date_time_ymd(2026, 1, 2);
        params.not_after = rcgen::date_time_ymd(2051, 3, 4);
        let certificate = params.self_signed(&key).unwrap();
        let summary = summarize(certificate.der()).unwrap();
        assert_eq!(summary.subject, "CN=matrix.example.test, O=Hearth Test");
        assert_eq!(summary.issuer, summary.subject);
        assert_eq!(
            summary.subject_alternative_names,
            ["matrix.example.test", "10.1.2.3"]
        );
        assert_eq!(summary.not_before, days_from_civil(2026, 1, 2) * 86_400);
        // 2051 is past UTCTime's range: GeneralizedTime.
        assert_eq!(summary.not_after, days_from_civil(2051, 3, 4) * 86_400);
    }

    #[test]
    fn garbage_is_refused_without_panic() {
        assert_eq!(summarize(b""), None);
        assert_eq!(summarize(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]), None);
        assert_eq!(summarize(&[0x30, 0x03, 0x30, 0x01]), None);
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
