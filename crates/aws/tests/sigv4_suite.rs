//! The signer against AWS's published SigV4 test suite (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z,
//! us-east-1, service `service`), expressed as a table of requests and expected signatures.

use std::time::{Duration, UNIX_EPOCH};

use hyper::{HeaderMap, Method, Uri};
use lambdatel_aws::{sign, sigv4::percent_encode, Credentials, SigningError, SigningParams};

const SESSION_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    query: &'static [(&'static str, &'static str)],
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    session: bool,
    signed_headers: &'static str,
    signature: &'static str,
}

const BASE: Case = Case {
    name: "",
    method: "GET",
    path: "/",
    query: &[],
    headers: &[],
    body: "",
    session: false,
    signed_headers: "host;x-amz-date",
    signature: "",
};

const VANILLA: &str = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
const UNRESERVED: &str = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const CASES: &[Case] = &[
    Case { name: "get-vanilla", signature: VANILLA, ..BASE },
    Case {
        name: "get-vanilla-empty-query-key",
        query: &[("Param1", "value1")],
        signature: "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
        ..BASE
    },
    Case {
        name: "get-vanilla-query-order-key-case",
        query: &[("Param2", "value2"), ("Param1", "value1")],
        signature: "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ..BASE
    },
    Case {
        name: "get-vanilla-query-unreserved",
        query: &[(UNRESERVED, UNRESERVED)],
        signature: "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        ..BASE
    },
    Case {
        name: "get-vanilla-utf8-query",
        query: &[("\u{1234}", "bar")],
        signature: "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        ..BASE
    },
    Case {
        name: "get-unreserved",
        path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        signature: "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        ..BASE
    },
    Case { name: "get-relative", path: "/example/..", signature: VANILLA, ..BASE },
    Case { name: "get-relative-relative", path: "/example1/example2/../..", signature: VANILLA, ..BASE },
    Case { name: "get-slash", path: "//", signature: VANILLA, ..BASE },
    Case { name: "get-slash-dot-slash", path: "/./", signature: VANILLA, ..BASE },
    Case {
        name: "get-slash-pointless-dot",
        path: "/./example",
        signature: "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
        ..BASE
    },
    Case {
        name: "get-slashes",
        path: "//example//",
        signature: "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
        ..BASE
    },
    Case {
        name: "get-header-key-duplicate (three header lines)",
        headers: &[("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")],
        signed_headers: "host;my-header1;x-amz-date",
        signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        ..BASE
    },
    Case {
        name: "get-header-key-duplicate",
        headers: &[("My-Header1", "value2,value2,value1")],
        signed_headers: "host;my-header1;x-amz-date",
        signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        ..BASE
    },
    Case {
        name: "get-header-value-multiline",
        headers: &[("My-Header1", "value1,value2,value3")],
        signed_headers: "host;my-header1;x-amz-date",
        signature: "ba17b383a53190154eb5fa66a1b836cc297cc0a3d70a5d00705980573d8ff790",
        ..BASE
    },
    Case {
        name: "get-header-value-order",
        headers: &[("My-Header1", "value4,value1,value3,value2")],
        signed_headers: "host;my-header1;x-amz-date",
        signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
        ..BASE
    },
    Case {
        name: "get-header-value-trim",
        headers: &[("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
        signed_headers: "host;my-header1;my-header2;x-amz-date",
        signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        ..BASE
    },
    Case {
        name: "post-vanilla",
        method: "POST",
        signature: "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        ..BASE
    },
    Case {
        name: "post-vanilla-query",
        method: "POST",
        query: &[("Param1", "value1")],
        signature: "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        ..BASE
    },
    Case {
        name: "post-vanilla-query-nonunreserved",
        method: "POST",
        query: &[("@#$%^", ""), ("+", "/,?><`\";:\\|][{}")],
        signature: "66c82657c86e26fb25238d0e69f011edc4c6df5ae71119d7cb98ed9b87393c1e",
        ..BASE
    },
    Case {
        name: "post-vanilla-query-space",
        method: "POST",
        query: &[("p", "")],
        signature: "e71688addb58a26418614085fb730ba3faa623b461c17f48f2fbdb9361b94a9b",
        ..BASE
    },
    Case {
        name: "post-header-key-sort",
        method: "POST",
        headers: &[("My-Header1", "value1")],
        signed_headers: "host;my-header1;x-amz-date",
        signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
        ..BASE
    },
    Case {
        name: "post-header-value-case",
        method: "POST",
        headers: &[("My-Header1", "VALUE1")],
        signed_headers: "host;my-header1;x-amz-date",
        signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d",
        ..BASE
    },
    Case {
        name: "post-sts-header-before",
        method: "POST",
        session: true,
        signed_headers: "host;x-amz-date;x-amz-security-token",
        signature: "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        ..BASE
    },
    Case {
        name: "post-x-www-form-urlencoded",
        method: "POST",
        headers: &[("Content-Type", "application/x-www-form-urlencoded")],
        body: "Param1=value1",
        signed_headers: "content-type;host;x-amz-date",
        signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        ..BASE
    },
    Case {
        name: "post-x-www-form-urlencoded-parameters",
        method: "POST",
        headers: &[("Content-Type", "application/x-www-form-urlencoded; charset=utf8")],
        body: "Param1=value1",
        signed_headers: "content-type;host;x-amz-date",
        signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe",
        ..BASE
    },
];

fn signed_authorization(case: &Case) -> Result<String, SigningError> {
    let query: Vec<String> = case
        .query
        .iter()
        .map(|(k, v)| format!("{}={}", percent_encode(k.as_bytes()), percent_encode(v.as_bytes())))
        .collect();
    let uri = match query.is_empty() {
        true => format!("https://example.amazonaws.com{}", case.path),
        false => format!("https://example.amazonaws.com{}?{}", case.path, query.join("&")),
    };
    let uri: Uri = uri.parse().unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in case.headers {
        headers.append(*name, value.parse().unwrap());
    }
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        case.session.then(|| SESSION_TOKEN.to_string()),
    );
    let params = SigningParams {
        credentials: &credentials,
        region: "us-east-1",
        service: "service",
        time: UNIX_EPOCH + Duration::from_secs(1_440_938_160),
    };
    sign(&case.method.parse::<Method>().unwrap(), &uri, &mut headers, case.body.as_bytes(), &params)?;
    assert_eq!(headers["host"], "example.amazonaws.com", "{}", case.name);
    assert_eq!(headers["x-amz-date"], "20150830T123600Z", "{}", case.name);
    assert_eq!(headers.contains_key("x-amz-security-token"), case.session, "{}", case.name);
    Ok(headers["authorization"].to_str().unwrap().to_string())
}

#[test]
fn aws_sigv4_test_suite() {
    for case in CASES {
        let expected = format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={}, Signature={}",
            case.signed_headers, case.signature
        );
        assert_eq!(signed_authorization(case).unwrap(), expected, "{}", case.name);
    }
}

#[test]
fn wrong_secret_changes_the_signature() {
    let case = &CASES[0];
    let good = signed_authorization(case).unwrap();
    let uri: Uri = "https://example.amazonaws.com/".parse().unwrap();
    let credentials = Credentials::new("AKIDEXAMPLE", "not-the-secret", None);
    let params = SigningParams {
        credentials: &credentials,
        region: "us-east-1",
        service: "service",
        time: UNIX_EPOCH + Duration::from_secs(1_440_938_160),
    };
    let mut headers = HeaderMap::new();
    sign(&Method::GET, &uri, &mut headers, b"", &params).unwrap();
    assert_ne!(headers["authorization"].to_str().unwrap(), good);
}

#[test]
fn s3_signs_the_payload_hash_header_and_the_port() {
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", None);
    let params = SigningParams { credentials: &credentials, region: "us-east-1", service: "s3", time: UNIX_EPOCH };
    let uri: Uri = "http://127.0.0.1:9000/bucket/key".parse().unwrap();
    let mut headers = HeaderMap::new();
    sign(&Method::GET, &uri, &mut headers, b"", &params).unwrap();
    assert_eq!(headers["host"], "127.0.0.1:9000");
    assert_eq!(headers["x-amz-content-sha256"], "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert!(headers["authorization"].to_str().unwrap().contains("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"));
    let no_host: Uri = "/relative".parse().unwrap();
    assert_eq!(
        sign(&Method::GET, &no_host, &mut HeaderMap::new(), b"", &params),
        Err(SigningError::NoHost("/relative".into()))
    );
}
