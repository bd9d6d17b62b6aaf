//! Tests of `x_matrix`: signatures checked against Python's signedjson (the library
//! Synapse signs with) for the spec's test key, and the header grammar row by row.

use serde_json::json;

use super::*;

// Spec: appendices, "Cryptographic test vectors" (seed, key id ed25519:1).
fn spec_key() -> SigningKey {
    SigningKey::parse_key_file("ed25519 1 YJDBA9Xnr2sVqXD9Vj7XVUnmFZcZrlw8Md7kMW+3XA1").unwrap()
}

fn name(text: &str) -> ServerName {
    ServerName::parse(text).unwrap()
}

const PROFILE_URI: &str =
    "/_matrix/federation/v1/query/profile?user_id=%40alice%3Adirect.test&field=displayname";
// signedjson.sign.sign_json({method, uri, origin, destination}, "origin.test", spec key).
const PROFILE_SIG: &str =
    "2xdhUm4IY/KAOylCXjApA/0nUcfCzrLZ3ilpa3AfdtELU2GECskXJnGmiwPAI4ldYIAo9opORjNw+cm+hYNoCA";
// The same for a PUT with a body holding a non-ASCII key.
const SEND_SIG: &str =
    "M4ElTH988r+trxizLkHRpuRUxTql5DP1ibG2lrM+418W+YsM1TCh73eIPmAPNM1VE2FVvdlecW4M7F7pM6AeAQ";

fn send_body() -> Value {
    json!({"pdus": [], "edus": [{"edu_type": "m.typing", "content": {"ü": 1}}]})
}

#[test]
fn signs_as_signedjson_does() {
    let header = authorization_header(
        &spec_key(),
        "GET",
        PROFILE_URI,
        &name("origin.test"),
        &name("dest.test:8448"),
        None,
    )
    .unwrap();
    assert_eq!(
        header,
        format!(
            "X-Matrix origin=\"origin.test\",destination=\"dest.test:8448\",key=\"ed25519:1\",sig=\"{PROFILE_SIG}\""
        )
    );
    let header = authorization_header(
        &spec_key(),
        "PUT",
        "/_matrix/federation/v1/send/txn1",
        &name("origin.test"),
        &name("dest.test"),
        Some(&send_body()),
    )
    .unwrap();
    assert!(header.ends_with(&format!("sig=\"{SEND_SIG}\"")), "{header}");
}

/// Verifies `header` as received by `dest.test` for the PUT above.
fn verify_send(header: &str, uri: &str, body: &Value) -> Result<(), XMatrixError> {
    let parsed = parse_header(header)?;
    verify_request(
        &parsed,
        "PUT",
        uri,
        &name("dest.test"),
        Some(body),
        &spec_key().public_key_base64(),
    )
}

#[test]
fn verifies_and_rejects_tampering() {
    let uri = "/_matrix/federation/v1/send/txn1";
    let good = format!(
        "X-Matrix origin=\"origin.test\",destination=\"dest.test\",key=\"ed25519:1\",sig=\"{SEND_SIG}\""
    );
    assert_eq!(verify_send(&good, uri, &send_body()), Ok(()));
    // Another URI, body, origin, destination or signature: refused.
    let bad_signature = Err(XMatrixError::Signature(VerifyError::BadSignature));
    assert_eq!(
        verify_send(&good, "/_matrix/federation/v1/send/txn2", &send_body()),
        bad_signature
    );
    assert_eq!(verify_send(&good, uri, &json!({})), bad_signature);
    assert_eq!(
        verify_send(
            &good.replace("origin.test", "other.test"),
            uri,
            &send_body()
        ),
        bad_signature
    );
    assert_eq!(
        verify_send(
            &good.replace("\"dest.test\"", "\"else.test\""),
            uri,
            &send_body()
        ),
        Err(XMatrixError::WrongDestination(name("else.test")))
    );
    assert_eq!(
        verify_send(&good.replace("sig=\"M4", "sig=\"M5"), uri, &send_body()),
        bad_signature
    );
    assert_eq!(
        verify_send(&good.replace(SEND_SIG, "AAAA"), uri, &send_body()),
        Err(XMatrixError::Signature(VerifyError::MalformedSignature))
    );
    // No destination (servers before v1.3): checked as if it named us.
    let old = format!("X-Matrix origin=origin.test,key=\"ed25519:1\",sig=\"{SEND_SIG}\"");
    assert_eq!(verify_send(&old, uri, &send_body()), Ok(()));
}

fn check(header: &str, expect: Result<(&str, Option<&str>, &str, &str), XMatrixError>) {
    let got = parse_header(header).map(|x| {
        (
            x.origin.as_str().to_owned(),
            x.destination.map(|d| d.as_str().to_owned()),
            x.key_id,
            x.signature,
        )
    });
    let expect = expect.map(|(o, d, k, s)| {
        (
            o.to_owned(),
            d.map(str::to_owned),
            k.to_owned(),
            s.to_owned(),
        )
    });
    assert_eq!(got, expect, "{header}");
}

#[test]
fn header_grammar() {
    let full = Ok(("o.test", Some("d.test"), "ed25519:k", "c2ln/+="));
    // The sender form.
    check(
        r#"X-Matrix origin="o.test",destination="d.test",key="ed25519:k",sig="c2ln/+=""#,
        full.clone(),
    );
    // Scheme and names case-insensitive, any order, spaces and tabs around commas, several
    // spaces after the scheme.
    check(
        "x-matrix   SIG=\"c2ln/+=\" ,\tKey=\"ed25519:k\" , Destination=d.test,ORIGIN=o.test",
        full.clone(),
    );
    // Bare values with `:` (old servers), unknown parameters ignored, escapes undone.
    check(
        r#"X-Matrix origin=o.test:8448,key=ed25519:k,sig="c\2ln/+=",extra="x,y""#,
        Ok(("o.test:8448", None, "ed25519:k", "c2ln/+=")),
    );
    check(
        r#"X-Matrix origin="o.test",key="ed25519:k",sig="a""#,
        Ok(("o.test", None, "ed25519:k", "a")),
    );
}

#[test]
fn header_errors() {
    use XMatrixError::*;
    check("Bearer abc", Err(NotXMatrix));
    check("X-Matrix", Err(NotXMatrix));
    check("X-Matrixorigin=o", Err(NotXMatrix));
    check(
        r#"X-Matrix key="ed25519:k",sig="s""#,
        Err(MissingParam("origin")),
    );
    check(r#"X-Matrix origin="o",sig="s""#, Err(MissingParam("key")));
    check(
        r#"X-Matrix origin="o",key="ed25519:k""#,
        Err(MissingParam("sig")),
    );
    check(
        r#"X-Matrix origin="o",origin="p",key="ed25519:k",sig="s""#,
        Err(DuplicateParam("origin".into())),
    );
    check(
        r#"X-Matrix origin="o o",key="ed25519:k",sig="s""#,
        Err(InvalidOrigin),
    );
    check(
        r#"X-Matrix origin="o",destination="",key="ed25519:k",sig="s""#,
        Err(InvalidDestination),
    );
    check(r#"X-Matrix origin="o",key="k",sig="s""#, Err(InvalidKeyId));
    check(
        r#"X-Matrix origin="o",key="rsa:k",sig="s""#,
        Err(UnsupportedAlgorithm("rsa".into())),
    );
    check(
        r#"X-Matrix key="ed25519:k",origin="o"#,
        Err(Malformed("unterminated quoted value")),
    );
    check(
        r#"X-Matrix origin="o" key="ed25519:k""#,
        Err(Malformed("expected `,` between parameters")),
    );
    check(
        "X-Matrix origin",
        Err(Malformed("expected `=` after a parameter name")),
    );
    check("X-Matrix =o", Err(Malformed("expected a parameter name")));
    check(
        "X-Matrix origin=,key=x",
        Err(Malformed("empty parameter value")),
    );
}
