//! The Secrets Manager, SSM, S3 and STS clients, config references and config sources against a moto
//! server reached through the `AWS_ENDPOINT_URL*` variables.

mod common;

use lambdatel_aws::{
    fetch_config,
    references::{resolve, validate},
    AssumeRoleConfig, AwsClient, CredentialsProvider, Env, Reference, ReferenceError,
};
use serde_json::json;

const CONFIG: &str =
    "exporters:\n  otlphttp:\n    headers:\n      x-api-key: ${secretsmanager:vendor/api#api_key}\n      \
                      x-token: Bearer ${ssm:/lambdatel/token}\n";

fn env_for(moto: &common::Process, per_service: bool) -> Env {
    let url = format!("http://127.0.0.1:{}", moto.port);
    let mut pairs = vec![
        ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
    ];
    if per_service {
        for service in ["SECRETS_MANAGER", "SSM", "S3", "STS"] {
            pairs.push((format!("AWS_ENDPOINT_URL_{service}"), url.clone()));
        }
    } else {
        pairs.push(("AWS_ENDPOINT_URL".into(), url));
    }
    Env::from_pairs(pairs)
}

fn seed(moto: &common::Process) -> serde_json::Value {
    common::seed_moto(
        moto.port,
        &json!({
            "region": "us-east-1",
            "secrets": {
                "vendor/api": r#"{"api_key":"k-123","port":8443}"#,
                "db/password": "p@ss:word\nline2",
                "third/token": "t-3",
            },
            "parameters": { "/lambdatel/token": "ssm-secret-value" },
            "objects": { "configs/lambdatel.yaml": CONFIG, "configs/dir/with space.yaml": "a: 1\n" },
            "public_objects": { "configs/public.yaml": CONFIG },
        }),
    )
}

#[tokio::test]
async fn s3_config_with_secret_and_parameter_references() {
    if !common::python_ready("s3_config_with_secret_and_parameter_references") {
        return;
    }
    let moto = common::start_moto();
    let arns = seed(&moto);
    let client = AwsClient::from_env(env_for(&moto, true));

    let config = fetch_config("s3://configs/lambdatel.yaml", &client).await.unwrap();
    assert_eq!((config.text.as_str(), config.source.as_str()), (CONFIG, "S3 object s3://configs/lambdatel.yaml"));
    let virtual_host = fetch_config("s3://configs.s3.us-east-1.amazonaws.com/lambdatel.yaml", &client).await.unwrap();
    assert_eq!(virtual_host.text, CONFIG);
    assert_eq!(virtual_host.source, "S3 object s3://configs/lambdatel.yaml (us-east-1)");
    let spaced = fetch_config("s3://configs/dir/with space.yaml", &client).await.unwrap();
    assert_eq!(spaced.text, "a: 1\n");
    // A public object is a plain http:// config source (unsigned GET); the query stays out of the source.
    let url = format!("http://127.0.0.1:{}/configs/public.yaml?versionId=null", moto.port);
    let over_http = fetch_config(&url, &client).await.unwrap();
    assert_eq!(over_http.text, CONFIG);
    assert_eq!(over_http.source, format!("http://127.0.0.1:{}/configs/public.yaml", moto.port));
    let private = format!("http://127.0.0.1:{}/configs/lambdatel.yaml", moto.port);
    assert_eq!(fetch_config(&private, &client).await.unwrap_err().to_string(), format!("{private}: HTTP 403"));
    let absent = format!("http://127.0.0.1:{}/configs/absent.yaml", moto.port);
    assert_eq!(fetch_config(&absent, &client).await.unwrap_err().to_string(), format!("{absent}: HTTP 404"));

    let mut references = validate(&config.text).unwrap();
    let arn = arns["db/password"].as_str().unwrap().to_string();
    references.extend([
        Reference::SecretsManager { secret_id: arn.clone(), json_key: None },
        Reference::SecretsManager { secret_id: "third/token".into(), json_key: None },
        Reference::SecretsManager { secret_id: "vendor/api".into(), json_key: Some("port".into()) },
    ]);
    let resolved = resolve(&client, &references).await.unwrap();
    assert_eq!(resolved.len(), 5);
    let expand = |text: &str| resolved.expand(text).unwrap().expose().to_string();
    assert_eq!(expand("${secretsmanager:vendor/api#api_key}"), "k-123");
    assert_eq!(expand("Bearer ${ssm:/lambdatel/token}"), "Bearer ssm-secret-value");
    assert_eq!(expand(&format!("${{secretsmanager:{arn}}}")), "p@ss:word\nline2");
    assert_eq!(expand("${secretsmanager:third/token}|${secretsmanager:vendor/api#port}"), "t-3|8443");
    assert!(!format!("{resolved:?}").contains("k-123"));
}

#[tokio::test]
async fn failures_name_the_reference_never_a_value() {
    if !common::python_ready("failures_name_the_reference_never_a_value") {
        return;
    }
    let moto = common::start_moto();
    seed(&moto);
    let client = AwsClient::from_env(env_for(&moto, false));
    let error = |references: Vec<Reference>| {
        let client = client.clone();
        async move {
            let error = resolve(&client, &references).await.unwrap_err();
            let printed = format!("{error} {error:?}");
            for value in ["k-123", "p@ss", "t-3", "ssm-secret-value"] {
                assert!(!printed.contains(value), "{value} in {printed}");
            }
            error
        }
    };
    let secret =
        |id: &str, key: Option<&str>| Reference::SecretsManager { secret_id: id.into(), json_key: key.map(Into::into) };

    let missing = error(vec![secret("vendor/api", None), secret("no/such/secret", None)]).await;
    match &missing {
        ReferenceError::Fetch { reference, source } => {
            assert_eq!(reference, "${secretsmanager:no/such/secret}");
            assert_eq!(source.code(), Some("ResourceNotFoundException"), "{source}");
            assert!(
                source
                    .to_string()
                    .starts_with("secretsmanager BatchGetSecretValue no/such/secret: ResourceNotFoundException"),
                "{source}"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let no_key = error(vec![secret("vendor/api", Some("nope")), secret("third/token", None)]).await;
    assert_eq!(no_key.to_string(), "${secretsmanager:vendor/api#nope}: the secret's JSON object has no key \"nope\"");
    let not_json = error(vec![secret("third/token", Some("k"))]).await;
    assert_eq!(
        not_json.to_string(),
        "${secretsmanager:third/token#k}: the secret is not a JSON object, so a #key cannot select from it"
    );
    let no_parameter =
        error(vec![Reference::Ssm { name: "/lambdatel/token".into() }, Reference::Ssm { name: "/no/such".into() }])
            .await;
    assert_eq!(
        no_parameter.to_string(),
        "${ssm:/no/such}: ssm GetParameters /no/such: ParameterNotFound: no such parameter"
    );

    let missing_object = fetch_config("s3://configs/absent.yaml", &client).await.unwrap_err();
    assert_eq!(
        missing_object.to_string(),
        "s3 GetObject s3://configs/absent.yaml: HTTP 404 NoSuchKey: The specified key does not exist."
    );
}

#[tokio::test]
async fn assume_role_through_sts() {
    if !common::python_ready("assume_role_through_sts") {
        return;
    }
    let moto = common::start_moto();
    seed(&moto);
    let env = env_for(&moto, true);
    let http = lambdatel_aws::http::HttpClient::new(lambdatel_aws::DEFAULT_TIMEOUT);
    let role = AssumeRoleConfig {
        arn: "arn:aws:iam::123456789012:role/telemetry".into(),
        sts_region: Some("us-east-1".into()),
        session_name: Some("lambdatel-test".into()),
    };
    let provider = CredentialsProvider::assuming_role(&env, http.clone(), role);
    let credentials = provider.credentials().await.unwrap();
    assert!(credentials.access_key_id.starts_with("ASIA"), "moto issues ASIA keys");
    assert_ne!(credentials.access_key_id, "testing");
    assert!(credentials.session_token.is_some() && credentials.expiration.is_some());
    // Cached: the same set until it nears expiry.
    assert_eq!(provider.credentials().await.unwrap(), credentials);
    // Calls signed with the role's credentials work.
    let client = AwsClient::new(env, http, provider);
    assert_eq!(client.get_parameter("/lambdatel/token").await.unwrap().expose(), "ssm-secret-value");
}
