//! S3 GetObject.

use bytes::Bytes;
use hyper::Method;

use crate::{
    client::{parse_uri, AwsClient, SignedCall},
    endpoints::Service,
    sigv4::percent_encode,
    AwsError,
};

impl AwsClient {
    /// The bytes of `s3://bucket/key`, from `region` or else the function's. Path-style against an endpoint
    /// override (a local fake), virtual-hosted against AWS.
    pub async fn get_object(&self, bucket: &str, key: &str, region: Option<&str>) -> Result<Bytes, AwsError> {
        let name = format!("s3 GetObject s3://{bucket}/{key}");
        if bucket.is_empty() || key.is_empty() {
            return Err(AwsError::Malformed { call: name, message: "the bucket and the key must not be empty".into() });
        }
        let region = region.or(self.region()).ok_or_else(|| AwsError::NoRegion(name.clone()))?.to_string();
        let endpoint = self.endpoint(Service::S3, &region)?;
        let encoded_key: Vec<String> = key.split('/').map(|segment| percent_encode(segment.as_bytes())).collect();
        let encoded_key = encoded_key.join("/");
        let url = if endpoint.overridden {
            format!("{}/{bucket}/{encoded_key}", endpoint.base)
        } else {
            let host = endpoint.base.strip_prefix("https://").unwrap_or(&endpoint.base);
            format!("https://{bucket}.{host}/{encoded_key}")
        };
        let call = SignedCall {
            name: &name,
            service: Service::S3,
            region: &region,
            method: Method::GET,
            uri: parse_uri(&url, &name)?,
            headers: Vec::new(),
            body: Bytes::new(),
        };
        Ok(self.call(&call).await?.body)
    }
}
