use super::*;
use crate::Registry;

const PIPELINE: &str = "receivers:\n  telemetryapi:\nservice:\n  extensions: [EXT]\n  pipelines:\n    traces:\n      receivers: [telemetryapi]\n      exporters: [EXPORTER]\n";

fn config(extensions: &str, exporters: &str, listed: &str, exporter: &str) -> Config {
    let yaml = format!(
        "extensions:\n{extensions}exporters:\n{exporters}{}",
        PIPELINE.replace("EXT", listed).replace("EXPORTER", exporter)
    );
    lambdatel_config::parse(&yaml, Some("c.yaml"), &|_| None).unwrap()
}

fn build_errors(config: &Config) -> String {
    let Err(mut errors) = Registry::builtin().build_graph(config) else { return String::new() };
    errors.sort();
    errors.to_string()
}

fn built(config: &Config) -> BTreeMap<ComponentId, Authenticator> {
    let (built, errors) = authenticators(
        config,
        &Env::default(),
        &lambdatel_aws::http::HttpClient::new(std::time::Duration::from_secs(1)),
    );
    assert_eq!(errors, vec![]);
    built
}

#[test]
fn bearer_and_basic_become_sensitive_headers() {
    let config = config(
        "  bearertokenauth:\n    token: t0k\n  bearertokenauth/key:\n    header: x-api-key\n    scheme: \"\"\n    token: k\n  basicauth:\n    client_auth:\n      username: user\n      password: pass\n",
        "  otlphttp:\n    endpoint: http://127.0.0.1:1\n    auth:\n      authenticator: basicauth\n",
        "bearertokenauth, bearertokenauth/key, basicauth",
        "otlphttp",
    );
    let built = built(&config);
    let header = |id: &str| match &built[&id.parse().unwrap()] {
        Authenticator::Header(name, value) => {
            assert!(value.is_sensitive());
            assert!(!format!("{value:?}").contains(value.to_str().unwrap()));
            (name.to_string(), value.to_str().unwrap().to_string())
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(header("bearertokenauth"), ("authorization".into(), "Bearer t0k".into()));
    assert_eq!(header("bearertokenauth/key"), ("x-api-key".into(), "k".into()));
    assert_eq!(header("basicauth"), ("authorization".into(), "Basic dXNlcjpwYXNz".into()));
    assert_eq!(build_errors(&config), "");
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    for (input, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(input.as_bytes()), encoded);
    }
}

#[test]
fn token_file_is_read_and_its_errors_are_located() {
    let dir = std::env::temp_dir().join(format!("lambdatel-bearer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("token");
    std::fs::write(&path, "from-file\n").unwrap();
    let ext = format!("  bearertokenauth:\n    filename: {}\n", path.display());
    let loaded = config(&ext, "  debug:\n", "bearertokenauth", "debug");
    assert!(matches!(&built(&loaded)[&"bearertokenauth".parse().unwrap()],
        Authenticator::Header(_, v) if v.to_str().unwrap() == "Bearer from-file"));
    std::fs::remove_dir_all(&dir).unwrap();
    let config = config(
        &format!("  bearertokenauth:\n    filename: {}\n", path.display()),
        "  debug:\n",
        "bearertokenauth",
        "debug",
    );
    assert_eq!(
        build_errors(&config),
        format!("c.yaml:3:5: extensions.bearertokenauth.filename: {}: cannot be read: No such file or directory (os error 2)", path.display())
    );
}

#[test]
fn unknown_types_bad_settings_and_ignored_ones() {
    let config = config(
        "  health_check:\n  pprof:\n    endpoint: x\n  oauth2client:\n    client_id: x\n  bearertokenauth:\n  basicauth:\n    htpasswd:\n      inline: a:b\n",
        "  debug:\n",
        "health_check",
        "debug",
    );
    assert_eq!(
        build_errors(&config),
        "c.yaml:5:3: extensions.oauth2client: unknown extension type \"oauth2client\"; lambdatel has sigv4auth, bearertokenauth, basicauth (and accepts and ignores health_check, healthcheckv2, pprof, zpages, memory_ballast, file_storage, opamp, awsproxy)\n\
         c.yaml:7:3: extensions.bearertokenauth: token or filename is needed\n\
         c.yaml:8:3: extensions.basicauth: client_auth (username, password) is needed: htpasswd authenticates incoming requests, and lambdatel's receivers take no authenticator"
    );
    assert_eq!(
        warnings(&config),
        [
            "c.yaml:2:3: extensions.health_check: extension type \"health_check\" has no meaning in Lambda and is ignored",
            "c.yaml:3:3: extensions.pprof: extension type \"pprof\" has no meaning in Lambda and is ignored",
        ]
    );
}

#[tokio::test]
async fn auth_references_are_checked_where_they_are_written() {
    let exporters = "  otlphttp:\n    endpoint: http://127.0.0.1:1\n    auth:\n      authenticator: sigv4auth/missing\n  otlp:\n    endpoint: http://127.0.0.1:2\n    auth:\n      authenticator: sigv4auth\n  otlp/ignored:\n    endpoint: http://127.0.0.1:3\n    auth:\n      authenticator: health_check\n";
    let config = config(
        "  sigv4auth:\n    region: eu-west-1\n    service: logs\n  health_check:\n",
        exporters,
        "sigv4auth",
        "otlphttp, otlp, otlp/ignored",
    );
    assert_eq!(
        build_errors(&config),
        "c.yaml:10:7: exporters.otlphttp.auth.authenticator: extension \"sigv4auth/missing\" is not defined in extensions\n\
         c.yaml:14:7: exporters.otlp.auth.authenticator: sigv4auth signs OTLP/HTTP requests: use the otlphttp exporter\n\
         c.yaml:18:7: exporters.otlp/ignored.auth.authenticator: extension \"health_check\" is not an authenticator"
    );
}

#[tokio::test]
async fn bearer_tokens_go_to_grpc_metadata() {
    let config = config(
        "  bearertokenauth:\n    token: t\n",
        "  otlp:\n    endpoint: http://127.0.0.1:2\n    auth:\n      authenticator: bearertokenauth\n",
        "bearertokenauth",
        "otlp",
    );
    assert_eq!(build_errors(&config), "");
}

#[test]
fn the_region_comes_from_the_environment_the_config_was_read_in() {
    let config = config(
        "  sigv4auth:\n    service: logs\n",
        "  otlphttp:\n    logs_endpoint: http://127.0.0.1:1/v1/logs\n    auth:\n      authenticator: sigv4auth\n  awsxray:\n",
        "sigv4auth",
        "otlphttp, awsxray",
    );
    let registry = Registry::builtin();
    let lookup: lambdatel_aws::env::Lookup =
        std::sync::Arc::new(|name| (name == "AWS_REGION").then(|| "eu-north-1".to_string()));
    assert!(registry.build_graph_in(&config, &Env::from_lookup(lookup)).is_ok());
    let Err(mut errors) = registry.build_graph_in(&config, &Env::default()) else { panic!("no region: no graph") };
    errors.sort();
    assert_eq!(
        errors.to_string(),
        "c.yaml:8:7: exporters.otlphttp.auth.authenticator: no AWS region for sigv4auth signing for localhost: set AWS_REGION\nc.yaml:9:3: exporters.awsxray.region: set region or AWS_REGION"
    );
}
