//! Every trigger type among AWS's sample events (tests/fixtures/triggers) yields exactly its attributes.

mod runtime_proxy {
    use lambdatel_components::runtime_proxy::trigger::extract_trigger;
    use lambdatel_components::runtime_proxy::FaasTrigger;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Kind;

    /// An attribute value as text: strings as they are, integers as `int:N`, arrays as `[a,b]`.
    fn show(kind: Option<&Kind>) -> String {
        match kind {
            Some(Kind::StringValue(s)) => s.clone(),
            Some(Kind::IntValue(i)) => format!("int:{i}"),
            Some(Kind::ArrayValue(array)) => {
                let items: Vec<String> = array.values.iter().map(|v| show(v.value.as_ref())).collect();
                format!("[{}]", items.join(","))
            }
            other => format!("unexpected {other:?}"),
        }
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/tests/fixtures/triggers/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    struct Case {
        event: &'static str,
        /// The function's response, for HTTP triggers.
        response: Option<&'static str>,
        trigger: FaasTrigger,
        attributes: &'static [(&'static str, &'static str)],
    }

    const CASES: &[Case] = &[
        Case {
            event: "apigw-request.json",
            response: Some("apigw-response.json"),
            trigger: FaasTrigger::Http,
            attributes: &[
                ("http.request.method", "POST"),
                ("url.path", "/hello/world"),
                ("http.route", "/{proxy+}"),
                ("url.scheme", "https"),
                ("user_agent.original", "PostmanRuntime/2.4.5"),
                ("client.address", "192.168.196.186"),
                ("server.address", "gy415nuibc.execute-api.us-east-2.amazonaws.com"),
                ("http.response.status_code", "int:200"),
            ],
        },
        Case {
            event: "apigw-v2-request-no-authorizer.json",
            // Payload format 2.0: a response that is not an object with `statusCode` is the body of a 200.
            response: Some("plain:Hello"),
            trigger: FaasTrigger::Http,
            attributes: &[
                ("http.request.method", "GET"),
                ("url.path", "/"),
                ("url.scheme", "https"),
                ("user_agent.original", "curl/7.58.0"),
                ("client.address", "1.2.3.4"),
                ("server.address", "aaaaaaaaaa.execute-api.us-west-2.amazonaws.com"),
                ("http.response.status_code", "int:200"),
            ],
        },
        Case {
            event: "alb-lambda-target-request.json",
            response: Some("alb-lambda-target-response.json"),
            trigger: FaasTrigger::Http,
            attributes: &[
                ("http.request.method", "GET"),
                ("url.path", "/"),
                ("url.scheme", "https"),
                ("user_agent.original", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_6)"),
                ("client.address", "72.21.198.66"),
                ("server.address", "lambda-999999999-us-east-2.elb.amazonaws.com"),
                ("http.response.status_code", "int:200"),
            ],
        },
        Case {
            // A target group with multi-value headers on: only `multiValueHeaders`, plain HTTP.
            event: "alb-lambda-target-request-multivalue-headers.json",
            response: Some("plain:not an ALB response"),
            trigger: FaasTrigger::Http,
            attributes: &[
                ("http.request.method", "GET"),
                ("url.path", "/"),
                ("url.scheme", "http"),
                ("user_agent.original", "curl/7.54.0"),
                ("client.address", "72.21.198.67"),
                ("server.address", "lambda-test-alb-1234567.us-east-1.elb.amazonaws.com"),
            ],
        },
        Case {
            event: "lambda-urls-request.json",
            response: Some("lambda-urls-response.json"),
            trigger: FaasTrigger::Http,
            attributes: &[
                ("http.request.method", "POST"),
                ("url.path", "/my/path"),
                ("url.scheme", "https"),
                ("user_agent.original", "agent"),
                ("client.address", "123.123.123.123"),
                ("server.address", "<url-id>.lambda-url.us-west-2.on.aws"),
                ("http.response.status_code", "int:201"),
            ],
        },
        Case {
            event: "sqs-event.json",
            response: None,
            trigger: FaasTrigger::Pubsub,
            attributes: &[
                ("messaging.system", "aws_sqs"),
                ("messaging.destination.name", "SQSQueue"),
                ("messaging.operation.type", "process"),
                ("messaging.batch.message_count", "int:1"),
                ("messaging.message.id", "MessageID_1"),
            ],
        },
        Case {
            event: "sns-event.json",
            response: None,
            trigger: FaasTrigger::Pubsub,
            attributes: &[
                ("messaging.system", "aws.sns"),
                ("messaging.destination.name", "EXAMPLE"),
                ("messaging.operation.type", "process"),
                ("messaging.batch.message_count", "int:1"),
                ("messaging.message.id", "95df01b4-ee98-5cb9-9903-4c221d41eb5e"),
                ("aws.sns.topic.arn", "arn:aws:sns:EXAMPLE"),
            ],
        },
        Case {
            event: "kinesis-time-window-event.json",
            response: None,
            trigger: FaasTrigger::Pubsub,
            attributes: &[
                ("messaging.system", "aws.kinesis"),
                ("messaging.destination.name", "lambda-stream"),
                ("messaging.operation.type", "process"),
                ("messaging.batch.message_count", "int:1"),
                ("aws.kinesis.stream_name", "lambda-stream"),
            ],
        },
        Case {
            event: "ecr-image-push-event.json",
            response: None,
            trigger: FaasTrigger::Pubsub,
            attributes: &[
                ("messaging.system", "aws.eventbridge"),
                ("messaging.operation.type", "process"),
                ("messaging.message.id", "13cde686-328b-6117-af20-0e5566167482"),
            ],
        },
        Case {
            event: "cloudwatch-scheduled-event.json",
            response: None,
            trigger: FaasTrigger::Timer,
            attributes: &[("faas.time", "2016-12-30T18:44:49Z")],
        },
        Case {
            event: "s3-event.json",
            response: None,
            trigger: FaasTrigger::Datasource,
            attributes: &[
                ("aws.s3.bucket", "sourcebucket"),
                ("aws.s3.key", "HappyFace.jpg"),
                ("faas.document.collection", "sourcebucket"),
                ("faas.document.name", "HappyFace.jpg"),
                ("faas.document.operation", "insert"),
                ("faas.document.time", "1970-01-01T00:00:00.123Z"),
            ],
        },
        Case {
            // Its stream ARN is a placeholder naming no table, and the batch mixes operations.
            event: "dynamodb-time-window-event.json",
            response: None,
            trigger: FaasTrigger::Datasource,
            attributes: &[],
        },
    ];

    #[test]
    fn every_fixture_yields_its_trigger_and_exact_attributes() {
        for case in CASES {
            let mut info = extract_trigger(&fixture(case.event));
            if let Some(response) = case.response {
                let body = match response.strip_prefix("plain:") {
                    Some(text) => text.as_bytes().to_vec(),
                    None => fixture(response),
                };
                info.record_response(&body, true);
            }
            let got: Vec<(String, String)> = info
                .attributes
                .iter()
                .map(|kv| (kv.key.clone(), show(kv.value.as_ref().and_then(|v| v.value.as_ref()))))
                .collect();
            let want: Vec<(String, String)> =
                case.attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            assert_eq!((info.trigger, got), (case.trigger, want), "{}", case.event);
            // None of AWS's samples carries a complete caller context: their X-Ray headers have no Parent.
            assert_eq!((info.parent, info.links.len()), (None, 0), "{}", case.event);
        }
    }

    #[test]
    fn a_trigger_that_is_not_http_ignores_the_response() {
        let mut info = extract_trigger(&fixture("sqs-event.json"));
        let before = info.attributes.clone();
        info.record_response(br#"{"statusCode": 500}"#, true);
        assert_eq!(info.attributes, before);
    }

    #[test]
    fn the_first_status_seen_is_kept() {
        let mut info = extract_trigger(&fixture("lambda-urls-request.json"));
        info.record_response(&fixture("lambda-urls-response.json"), true);
        info.record_response(br#"{"statusCode": 500}"#, true);
        let statuses = info.attributes.iter().filter(|kv| kv.key == "http.response.status_code").count();
        assert_eq!(statuses, 1);
    }
}
