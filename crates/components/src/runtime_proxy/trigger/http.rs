//! HTTP triggers: API Gateway REST APIs (payload 1.0), HTTP APIs (1.0 or 2.0), ALB targets, Function URLs.

use serde_json::{Map, Value};

use super::context::{parse_traceparent, parse_xray_context, RemoteContext};
use super::{str_at, str_attr, FaasTrigger, ResponseFormat, TriggerInfo};

/// An HTTP event, told apart by its `requestContext`; `None` when it is none of them (for example a WebSocket
/// API event, which has no HTTP method).
pub(super) fn from_http_event(event: &Map<String, Value>, context: &Map<String, Value>) -> Option<TriggerInfo> {
    let headers = Headers::of(event);
    let header = |name: &str| headers.get(name);
    let mut info = TriggerInfo::new(FaasTrigger::Http);
    let mut add = |key: &str, value: Option<&str>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            info.attributes.push(str_attr(key, value));
        }
    };

    if str_at(event, "version") == Some("2.0") {
        // Payload format 2.0: HTTP APIs and Function URLs.
        let http = context.get("http").and_then(Value::as_object)?;
        add("http.request.method", str_at(http, "method"));
        add("url.path", str_at(event, "rawPath").or_else(|| str_at(http, "path")));
        add("http.route", route_of_key(str_at(event, "routeKey").or_else(|| str_at(context, "routeKey"))));
        // Both endpoints are HTTPS only.
        add("url.scheme", header("x-forwarded-proto").or(Some("https")));
        add("user_agent.original", header("user-agent").or_else(|| str_at(http, "userAgent")));
        add("client.address", str_at(http, "sourceIp"));
        add("server.address", str_at(context, "domainName").or_else(|| header("host")));
        info.response = ResponseFormat::StatusCodeOr200;
    } else {
        let method = str_at(event, "httpMethod")?;
        let is_alb = context.contains_key("elb");
        add("http.request.method", Some(method));
        add("url.path", str_at(event, "path"));
        if !is_alb {
            add("http.route", str_at(event, "resource"));
        }
        let identity = context.get("identity").and_then(Value::as_object);
        let scheme = header("x-forwarded-proto").or((!is_alb).then_some("https"));
        add("url.scheme", scheme);
        add("user_agent.original", header("user-agent").or_else(|| identity.and_then(|i| str_at(i, "userAgent"))));
        // ALB passes the client in X-Forwarded-For (the first hop is the client); API Gateway says it itself.
        let forwarded_client = header("x-forwarded-for").and_then(|list| list.split(',').next()).map(str::trim);
        add("client.address", identity.and_then(|i| str_at(i, "sourceIp")).or(forwarded_client));
        add("server.address", str_at(context, "domainName").or_else(|| header("host")));
        info.response = ResponseFormat::StatusCodeRequired;
    }
    info.parent = caller_context(&headers);
    Some(info)
}

/// The caller's span: W3C `traceparent` first (what OpenTelemetry SDKs send), else X-Ray's header.
fn caller_context(headers: &Headers<'_>) -> Option<RemoteContext> {
    if let Some(traceparent) = headers.get("traceparent") {
        if let Some(context) = parse_traceparent(traceparent, headers.get("tracestate")) {
            return Some(context);
        }
    }
    parse_xray_context(headers.get("x-amzn-trace-id")?)
}

/// `GET /pets/{id}` -> `/pets/{id}`; `$default` and other keys without a path are no route.
fn route_of_key(route_key: Option<&str>) -> Option<&str> {
    let (_, path) = route_key?.split_once(' ')?;
    path.starts_with('/').then_some(path)
}

/// An event's request headers: `headers`, or only `multiValueHeaders` when an ALB target group has
/// multi-value headers on.
struct Headers<'a> {
    single: Option<&'a Map<String, Value>>,
    multi: Option<&'a Map<String, Value>>,
}

impl<'a> Headers<'a> {
    fn of(event: &'a Map<String, Value>) -> Self {
        Headers {
            single: event.get("headers").and_then(Value::as_object),
            multi: event.get("multiValueHeaders").and_then(Value::as_object),
        }
    }

    /// A header by name, whatever its case (REST APIs keep the client's case, the others lowercase); of a
    /// repeated header, the first value.
    fn get(&self, name: &str) -> Option<&'a str> {
        let find = |map: Option<&'a Map<String, Value>>| {
            map?.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value)
        };
        if let Some(value) = find(self.single) {
            return value.as_str();
        }
        find(self.multi)?.as_array()?.first()?.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::super::extract_trigger;
    use super::*;

    fn strings(info: &TriggerInfo) -> Vec<(String, String)> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value as Kind;
        info.attributes
            .iter()
            .map(|kv| match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Kind::StringValue(s)) => (kv.key.clone(), s.clone()),
                Some(Kind::IntValue(i)) => (kv.key.clone(), i.to_string()),
                other => panic!("unexpected value {other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_http_api_route_key_gives_the_route_and_traceparent_the_parent() {
        let event = br#"{"version":"2.0","routeKey":"GET /pets/{id}","rawPath":"/pets/7",
            "headers":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","tracestate":"a=b",
                       "x-amzn-trace-id":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
            "requestContext":{"domainName":"api.example.com","http":{"method":"GET","path":"/pets/7","sourceIp":"10.0.0.1","userAgent":"ua"}}}"#;
        let info = extract_trigger(event);
        assert_eq!(info.trigger, FaasTrigger::Http);
        assert_eq!(
            strings(&info),
            [
                ("http.request.method", "GET"),
                ("url.path", "/pets/7"),
                ("http.route", "/pets/{id}"),
                ("url.scheme", "https"),
                ("user_agent.original", "ua"),
                ("client.address", "10.0.0.1"),
                ("server.address", "api.example.com"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        let parent = info.parent.unwrap();
        assert_eq!(parent.span_id, [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]);
        assert_eq!(parent.trace_state, "a=b");
    }

    #[test]
    fn a_malformed_traceparent_falls_back_to_the_xray_header() {
        let event = br#"{"httpMethod":"GET","path":"/","resource":"/",
            "headers":{"Traceparent":"00-zz-00f067aa0ba902b7-01",
                       "X-Amzn-Trace-Id":"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8"},
            "requestContext":{"identity":{}}}"#;
        let parent = extract_trigger(event).parent.unwrap();
        assert_eq!(parent.span_id, [0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8]);
        let event = br#"{"httpMethod":"GET","headers":{"traceparent":"bad"},"requestContext":{}}"#;
        assert_eq!(extract_trigger(event).parent, None);
    }

    #[test]
    fn a_rest_api_response_without_a_status_code_says_nothing() {
        let event = br#"{"httpMethod":"GET","path":"/","requestContext":{}}"#;
        let mut info = extract_trigger(event);
        info.record_response(b"hello", true);
        assert_eq!(info.attribute("http.response.status_code"), None);
        info.record_response(br#"{"statusCode":302}"#, true);
        assert_eq!(strings(&info).last().unwrap(), &("http.response.status_code".to_string(), "302".to_string()));
    }

    #[test]
    fn a_websocket_event_is_other() {
        let event = br#"{"requestContext":{"routeKey":"$connect","eventType":"CONNECT","connectionId":"x"}}"#;
        assert_eq!(extract_trigger(event), TriggerInfo::other());
    }
}
