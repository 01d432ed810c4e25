//! STS AssumeRole (query protocol), to sign as a configured role.

use std::time::Duration;

use bytes::Bytes;
use hyper::{header::CONTENT_TYPE, Method};

use crate::{
    client::{parse_uri, send_signed, SignedCall},
    credentials::Credentials,
    endpoints::{self, Service},
    env::Env,
    http::HttpClient,
    secret::Secret,
    sigv4::percent_encode,
    time::parse_iso8601,
    xml, AwsError,
};

const CALL: &str = "sts AssumeRole";
/// Lifetime asked for; the refresh margin makes it renew well before.
const SESSION_DURATION: Duration = Duration::from_secs(3600);

pub(crate) struct AssumeRoleArgs<'a> {
    pub env: &'a Env,
    pub role_arn: &'a str,
    pub region: &'a str,
    pub session_name: &'a str,
}

pub(crate) async fn assume_role(
    http: &HttpClient,
    args: AssumeRoleArgs<'_>,
    base: Credentials,
) -> Result<Credentials, AwsError> {
    if args.role_arn.is_empty() {
        return Err(AwsError::NoCredentials("assume_role.arn is empty".into()));
    }
    let endpoint = endpoints::resolve(args.env, Service::Sts, args.region)?;
    let body = format!(
        "Action=AssumeRole&Version=2011-06-15&RoleArn={}&RoleSessionName={}&DurationSeconds={}",
        percent_encode(args.role_arn.as_bytes()),
        percent_encode(args.session_name.as_bytes()),
        SESSION_DURATION.as_secs()
    );
    // The global endpoint signs as us-east-1; a regional one as its region.
    let region = if args.region.is_empty() { "us-east-1" } else { args.region };
    let call = SignedCall {
        name: CALL,
        service: Service::Sts,
        region,
        method: Method::POST,
        uri: parse_uri(&format!("{}/", endpoint.base), CALL)?,
        headers: vec![(CONTENT_TYPE, "application/x-www-form-urlencoded; charset=utf-8".to_string())],
        body: Bytes::from(body),
    };
    let response = send_signed(http, &base, &call).await?;
    parse_assume_role(&String::from_utf8_lossy(&response.body))
}

fn parse_assume_role(document: &str) -> Result<Credentials, AwsError> {
    let field = |name: &str| {
        xml::element(document, name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| AwsError::Malformed { call: CALL.into(), message: format!("no {name} in the answer") })
    };
    let expiration = field("Expiration")?;
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: Secret::new(field("SecretAccessKey")?),
        session_token: Some(Secret::new(field("SessionToken")?)),
        expiration: Some(parse_iso8601(&expiration).ok_or_else(|| AwsError::Malformed {
            call: CALL.into(),
            message: format!("Expiration {expiration:?} is not an ISO 8601 time"),
        })?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_credentials_of_an_answer() {
        let answer = "<AssumeRoleResponse><AssumeRoleResult><Credentials><AccessKeyId>ASIA1</AccessKeyId>\
            <SecretAccessKey>s/e+c</SecretAccessKey><SessionToken>tok&amp;en</SessionToken>\
            <Expiration>2015-08-30T12:36:00Z</Expiration></Credentials></AssumeRoleResult></AssumeRoleResponse>";
        let credentials = parse_assume_role(answer).unwrap();
        assert_eq!(credentials.access_key_id, "ASIA1");
        assert_eq!(credentials.secret_access_key.expose(), "s/e+c");
        assert_eq!(credentials.session_token.as_ref().map(Secret::expose), Some("tok&en"));
        assert_eq!(credentials.expiration, parse_iso8601("2015-08-30T12:36:00Z"));
        assert_eq!(
            parse_assume_role("<AssumeRoleResponse/>").unwrap_err().to_string(),
            "sts AssumeRole: unexpected answer: no Expiration in the answer"
        );
    }
}
