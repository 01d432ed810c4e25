//! Secrets Manager GetSecretValue and BatchGetSecretValue.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;

use crate::{
    client::{arn_region, join_all, AwsClient, Concurrent, SignedCall},
    endpoints::Service,
    secret::Secret,
    AwsError,
};

/// Most secrets one BatchGetSecretValue call returns.
const BATCH_LIMIT: usize = 20;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SecretValue {
    #[serde(rename = "ARN")]
    arn: Option<String>,
    name: Option<String>,
    secret_string: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchAnswer {
    #[serde(default)]
    secret_values: Vec<SecretValue>,
    #[serde(default)]
    errors: Vec<BatchError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchError {
    secret_id: Option<String>,
    error_code: Option<String>,
    message: Option<String>,
}

impl AwsClient {
    /// The string value of one secret (name or ARN; an ARN's region is used for the call).
    pub async fn get_secret_value(&self, id: &str) -> Result<Secret, AwsError> {
        const CALL: &str = "secretsmanager GetSecretValue";
        let region = self.region_for(id, CALL)?;
        let endpoint = self.endpoint(Service::SecretsManager, &region)?;
        let body = serde_json::to_vec(&json!({ "SecretId": id })).expect("a JSON object serialises");
        let call =
            SignedCall::json(CALL, Service::SecretsManager, &region, &endpoint, "secretsmanager.GetSecretValue", body)?;
        let response = self.call(&call).await.map_err(|e| with_id(e, id))?;
        let value: SecretValue = parse(CALL, &response.body)?;
        string_value(id, value)
    }

    /// The values of several secrets in as few calls as possible: one BatchGetSecretValue per region and 20
    /// secrets, all at once. Each id gets its own result; the outer error is for failures of the whole call.
    /// Without the batch permission (AccessDenied), each secret is fetched on its own, concurrently.
    pub async fn get_secret_values(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Result<Secret, AwsError>>, AwsError> {
        let mut by_region: HashMap<String, Vec<String>> = HashMap::new();
        for id in ids {
            let region = self.region_for(id, "secretsmanager BatchGetSecretValue")?;
            let group = by_region.entry(region).or_default();
            if !group.contains(id) {
                group.push(id.clone());
            }
        }
        let mut calls: Vec<Concurrent<'_, _>> = Vec::new();
        for (region, ids) in by_region {
            for chunk in ids.chunks(BATCH_LIMIT) {
                let (region, chunk) = (region.clone(), chunk.to_vec());
                calls.push(Box::pin(async move { self.batch_in_region(&region, chunk).await }));
            }
        }
        let mut results = HashMap::new();
        for answered in join_all(calls).await {
            results.extend(answered?);
        }
        Ok(results)
    }

    async fn batch_in_region(
        &self,
        region: &str,
        ids: Vec<String>,
    ) -> Result<HashMap<String, Result<Secret, AwsError>>, AwsError> {
        const CALL: &str = "secretsmanager BatchGetSecretValue";
        if ids.len() == 1 {
            let result = self.get_secret_value(&ids[0]).await;
            return Ok(HashMap::from([(ids[0].clone(), result)]));
        }
        let endpoint = self.endpoint(Service::SecretsManager, region)?;
        let body = serde_json::to_vec(&json!({ "SecretIdList": ids })).expect("a JSON object serialises");
        let call = SignedCall::json(
            CALL,
            Service::SecretsManager,
            region,
            &endpoint,
            "secretsmanager.BatchGetSecretValue",
            body,
        )?;
        let answer: BatchAnswer = match self.call(&call).await {
            Ok(response) => parse(CALL, &response.body)?,
            Err(AwsError::Service { code, .. })
                if code == "AccessDeniedException" || code == "UnknownOperationException" =>
            {
                return Ok(self.one_by_one(ids).await);
            }
            Err(e) => return Err(e),
        };
        let mut results = HashMap::new();
        let mut unmatched = Vec::new();
        for id in &ids {
            let found = answer.secret_values.iter().position(|v| matches_id(id, v.name.as_deref(), v.arn.as_deref()));
            let error = answer.errors.iter().find(|e| e.secret_id.as_deref() == Some(id.as_str()));
            match (found, error) {
                (Some(at), _) => {
                    let value = &answer.secret_values[at];
                    let value = SecretValue { arn: None, name: None, secret_string: value.secret_string.clone() };
                    results.insert(id.clone(), string_value(id, value));
                }
                (None, Some(error)) => {
                    let error = AwsError::Item {
                        call: format!("secretsmanager BatchGetSecretValue {id}"),
                        code: error.error_code.clone().unwrap_or_default(),
                        message: error.message.clone().unwrap_or_default(),
                    };
                    results.insert(id.clone(), Err(error));
                }
                // A partial ARN or another spelling the answer does not echo: ask for it alone.
                (None, None) => unmatched.push(id.clone()),
            }
        }
        results.extend(self.one_by_one(unmatched).await);
        Ok(results)
    }

    async fn one_by_one(&self, ids: Vec<String>) -> HashMap<String, Result<Secret, AwsError>> {
        let calls: Vec<Concurrent<'_, _>> = ids
            .into_iter()
            .map(|id| -> Concurrent<'_, _> {
                Box::pin(async move {
                    let result = self.get_secret_value(&id).await;
                    (id, result)
                })
            })
            .collect();
        join_all(calls).await.into_iter().collect()
    }

    pub(crate) fn region_for(&self, id: &str, call: &str) -> Result<String, AwsError> {
        arn_region(id).or(self.region()).map(str::to_string).ok_or_else(|| AwsError::NoRegion(call.to_string()))
    }
}

fn matches_id(id: &str, name: Option<&str>, arn: Option<&str>) -> bool {
    name == Some(id) || arn == Some(id)
}

fn with_id(error: AwsError, id: &str) -> AwsError {
    match error {
        AwsError::Service { call, status, code, message } => {
            AwsError::Service { call: format!("{call} {id}"), status, code, message }
        }
        other => other,
    }
}

fn string_value(id: &str, value: SecretValue) -> Result<Secret, AwsError> {
    value.secret_string.map(Secret::new).ok_or_else(|| AwsError::Malformed {
        call: format!("secretsmanager GetSecretValue {id}"),
        message: "the secret has no SecretString (binary secrets cannot be used in a config)".into(),
    })
}

/// Parses an answer that holds secret values: an error must not quote the body.
pub(crate) fn parse<T: for<'de> Deserialize<'de>>(call: &str, body: &[u8]) -> Result<T, AwsError> {
    serde_json::from_slice(body).map_err(|e| AwsError::Malformed {
        call: call.to_string(),
        message: format!("not the documented JSON (line {}, column {})", e.line(), e.column()),
    })
}
