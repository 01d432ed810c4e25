//! The sandbox's resource: what the environment tells about the function, turned into OTLP attributes.

use opentelemetry_proto::tonic::{
    common::v1::{any_value::Value as Av, AnyValue, KeyValue},
    resource::v1::Resource,
};

/// What is known about the function before any event arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceInfo {
    /// `OTEL_SERVICE_NAME`.
    pub service_name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_NAME` (or `functionName` of the register response).
    pub function_name: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_VERSION`.
    pub function_version: Option<String>,
    /// `AWS_REGION`.
    pub region: Option<String>,
    /// `accountId` of the register response.
    pub account_id: Option<String>,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, in MB.
    pub memory_mb: Option<u64>,
    /// `OTEL_RESOURCE_ATTRIBUTES`, parsed and percent-decoded, in order.
    pub extra: Vec<(String, String)>,
    /// `AWS_LAMBDA_INITIALIZATION_TYPE` (`on-demand`, `provisioned-concurrency`, `snap-start`,
    /// `lambda-managed-instances`).
    pub initialization_type: Option<String>,
}

impl ResourceInfo {
    /// Reads AWS_LAMBDA_FUNCTION_NAME, AWS_LAMBDA_FUNCTION_VERSION, AWS_REGION, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,
    /// AWS_LAMBDA_INITIALIZATION_TYPE, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES (k=v,k=v percent-decoded)
    /// through `lookup`.
    ///
    /// Empty values count as unset; an unparsable memory size is ignored.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        ResourceInfo {
            service_name: get("OTEL_SERVICE_NAME"),
            function_name: get("AWS_LAMBDA_FUNCTION_NAME"),
            function_version: get("AWS_LAMBDA_FUNCTION_VERSION"),
            region: get("AWS_REGION"),
            account_id: None,
            memory_mb: get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").and_then(|v| v.parse().ok()),
            extra: get("OTEL_RESOURCE_ATTRIBUTES").map(|v| parse_resource_attributes(&v)).unwrap_or_default(),
            initialization_type: get("AWS_LAMBDA_INITIALIZATION_TYPE"),
        }
    }

    /// Whether the environment is a Lambda Managed Instances one, where invocations run concurrently.
    pub fn is_managed_instances(&self) -> bool {
        self.initialization_type.as_deref() == Some("lambda-managed-instances")
    }

    /// Builds the OTLP resource, with `instance_id` as `service.instance.id`.
    pub(crate) fn to_resource(&self, instance_id: &str) -> Resource {
        let mut attrs = Vec::with_capacity(10 + self.extra.len());
        let service = self.service_name.as_deref().or(self.function_name.as_deref()).unwrap_or("unknown_service");
        attrs.push(kv_str("service.name", service));
        attrs.push(kv_str("service.instance.id", instance_id));
        attrs.push(kv_str("cloud.provider", "aws"));
        attrs.push(kv_str("cloud.platform", "aws_lambda"));
        let optional = [
            ("cloud.region", &self.region),
            ("cloud.account.id", &self.account_id),
            ("faas.name", &self.function_name),
            ("faas.version", &self.function_version),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                attrs.push(kv_str(key, value));
            }
        }
        if let Some(mb) = self.memory_mb {
            let bytes = i64::try_from(mb.saturating_mul(1_048_576)).unwrap_or(i64::MAX);
            attrs.push(KeyValue { key: "faas.max_memory".into(), value: Some(int(bytes)), ..Default::default() });
        }
        for (key, value) in &self.extra {
            // OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES, as the SDK spec says.
            if key == "service.name" && self.service_name.is_some() {
                continue;
            }
            set_attr(&mut attrs, key, value);
        }
        Resource { attributes: attrs, ..Default::default() }
    }

    /// True when the user set `key` through OTEL_RESOURCE_ATTRIBUTES, which then must not be patched.
    pub(crate) fn user_sets(&self, key: &str) -> bool {
        self.extra.iter().any(|(k, _)| k == key)
    }
}

/// The attributes that tell one sandbox from another.
pub(crate) const INSTANCE_KEYS: [&str; 2] = ["service.instance.id", "faas.instance"];

/// `resource` without the sandbox's instance attributes, except those the user set through
/// OTEL_RESOURCE_ATTRIBUTES (asking for them explicitly).
pub(crate) fn without_instance(resource: &Resource, info: &ResourceInfo) -> Resource {
    let mut out = resource.clone();
    out.attributes.retain(|kv| !INSTANCE_KEYS.contains(&kv.key.as_str()) || info.user_sets(&kv.key));
    out
}

/// Parses `k=v,k=v` with percent-decoding; entries without `=` or with an empty key are ignored.
pub fn parse_resource_attributes(text: &str) -> Vec<(String, String)> {
    text.split(',')
        .filter_map(|entry| {
            let (key, value) = entry.split_once('=')?;
            let key = percent_decode(key.trim());
            (!key.is_empty()).then(|| (key, percent_decode(value.trim())))
        })
        .collect()
}

/// Decodes `%XX` escapes, as the OpenTelemetry environment variable specification asks for `k=v` lists
/// (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`); a `%` not followed by two hex digits stays as
/// it is.
pub fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let mut decoded = [0u8; 1];
        if bytes[i] == b'%' && bytes.get(i + 1..i + 3).is_some_and(|h| super::xray::decode_hex_bytes(h, &mut decoded)) {
            out.push(decoded[0]);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Replaces the value of `key`, or appends it.
pub(crate) fn set_attr(attrs: &mut Vec<KeyValue>, key: &str, value: &str) {
    match attrs.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = Some(string(value)),
        None => attrs.push(kv_str(key, value)),
    }
}

pub(crate) fn string(value: impl Into<String>) -> AnyValue {
    AnyValue { value: Some(Av::StringValue(value.into())) }
}

pub(crate) fn int(value: i64) -> AnyValue {
    AnyValue { value: Some(Av::IntValue(value)) }
}

pub(crate) fn kv_str(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue { key: key.to_owned(), value: Some(string(value)), ..Default::default() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr<'a>(r: &'a Resource, key: &str) -> Option<&'a Av> {
        r.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    #[test]
    fn from_env_reads_every_variable() {
        let info = ResourceInfo::from_env(|name| {
            Some(
                match name {
                    "AWS_LAMBDA_FUNCTION_NAME" => "orders",
                    "AWS_LAMBDA_FUNCTION_VERSION" => "$LATEST",
                    "AWS_REGION" => "eu-west-1",
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => "512",
                    "AWS_LAMBDA_INITIALIZATION_TYPE" => "lambda-managed-instances",
                    "OTEL_SERVICE_NAME" => "",
                    "OTEL_RESOURCE_ATTRIBUTES" => "deployment.environment=prod, team=a%2Cb%3Dc ,broken,=x,pct=100%",
                    _ => return None,
                }
                .to_owned(),
            )
        });
        assert_eq!(
            info,
            ResourceInfo {
                service_name: None,
                function_name: Some("orders".into()),
                function_version: Some("$LATEST".into()),
                region: Some("eu-west-1".into()),
                account_id: None,
                memory_mb: Some(512),
                extra: vec![
                    ("deployment.environment".into(), "prod".into()),
                    ("team".into(), "a,b=c".into()),
                    ("pct".into(), "100%".into()),
                ],
                initialization_type: Some("lambda-managed-instances".into()),
            }
        );
        assert!(info.is_managed_instances());
        assert!(!ResourceInfo::from_env(|_| Some("on-demand".into())).is_managed_instances());
        assert!(!ResourceInfo::default().is_managed_instances());
    }

    #[test]
    fn resource_attributes_follow_the_mapping() {
        let info = ResourceInfo {
            service_name: None,
            function_name: Some("orders".into()),
            function_version: Some("7".into()),
            region: Some("eu-west-1".into()),
            account_id: Some("123456789012".into()),
            memory_mb: Some(128),
            extra: vec![("cloud.region".into(), "override".into()), ("team".into(), "x".into())],
            initialization_type: Some("on-demand".into()),
        };
        let r = info.to_resource("inst");
        let keys: Vec<_> = r.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "service.name",
                "service.instance.id",
                "cloud.provider",
                "cloud.platform",
                "cloud.region",
                "cloud.account.id",
                "faas.name",
                "faas.version",
                "faas.max_memory",
                "team"
            ]
        );
        assert_eq!(attr(&r, "service.name"), Some(&Av::StringValue("orders".into())));
        assert_eq!(attr(&r, "cloud.region"), Some(&Av::StringValue("override".into())));
        assert_eq!(attr(&r, "faas.max_memory"), Some(&Av::IntValue(134_217_728)));
        assert_eq!(attr(&r, "cloud.platform"), Some(&Av::StringValue("aws_lambda".into())));
    }

    #[test]
    fn service_name_prefers_otel_service_name() {
        let info = ResourceInfo {
            service_name: Some("svc".into()),
            function_name: Some("fn".into()),
            extra: vec![("service.name".into(), "ignored".into())],
            ..Default::default()
        };
        assert_eq!(attr(&info.to_resource("i"), "service.name"), Some(&Av::StringValue("svc".into())));
        let info = ResourceInfo { extra: vec![("service.name".into(), "from-attrs".into())], ..Default::default() };
        assert_eq!(attr(&info.to_resource("i"), "service.name"), Some(&Av::StringValue("from-attrs".into())));
        assert_eq!(
            attr(&ResourceInfo::default().to_resource("i"), "service.name"),
            Some(&Av::StringValue("unknown_service".into()))
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%e2%82%ACc"), "a b€c");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }
}
