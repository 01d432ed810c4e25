//! SSM Parameter Store GetParameters, with SecureString decryption.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::json;

use crate::{
    client::{join_all, AwsClient, Concurrent, SignedCall},
    endpoints::Service,
    secret::Secret,
    secrets_manager::parse,
    AwsError,
};

/// Most names one GetParameters call takes.
const BATCH_LIMIT: usize = 10;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Parameter {
    name: String,
    value: String,
    #[serde(rename = "ARN")]
    arn: Option<String>,
    selector: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Answer {
    #[serde(default)]
    parameters: Vec<Parameter>,
    #[serde(default)]
    invalid_parameters: Vec<String>,
}

impl AwsClient {
    /// The decrypted value of one parameter (name, `name:version`, `name:label` or ARN).
    pub async fn get_parameter(&self, name: &str) -> Result<Secret, AwsError> {
        let mut values = self.get_parameters(&[name.to_string()]).await?;
        values.remove(name).unwrap_or_else(|| Err(missing_result(name)))
    }

    /// The decrypted values of several parameters: one GetParameters call per region and 10 names, all at
    /// once. Each name gets its own result; a name SSM does not know is a `ParameterNotFound` error.
    pub async fn get_parameters(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, Result<Secret, AwsError>>, AwsError> {
        const CALL: &str = "ssm GetParameters";
        let mut by_region: HashMap<String, Vec<String>> = HashMap::new();
        for name in names {
            let group = by_region.entry(self.region_for(name, CALL)?).or_default();
            if !group.contains(name) {
                group.push(name.clone());
            }
        }
        let mut calls: Vec<Concurrent<'_, _>> = Vec::new();
        for (region, names) in by_region {
            for chunk in names.chunks(BATCH_LIMIT) {
                let (region, chunk) = (region.clone(), chunk.to_vec());
                calls.push(Box::pin(async move { self.parameters_in_region(&region, chunk).await }));
            }
        }
        let mut results = HashMap::new();
        for answered in join_all(calls).await {
            results.extend(answered?);
        }
        Ok(results)
    }

    async fn parameters_in_region(
        &self,
        region: &str,
        names: Vec<String>,
    ) -> Result<HashMap<String, Result<Secret, AwsError>>, AwsError> {
        const CALL: &str = "ssm GetParameters";
        let endpoint = self.endpoint(Service::Ssm, region)?;
        let body =
            serde_json::to_vec(&json!({ "Names": names, "WithDecryption": true })).expect("a JSON object serialises");
        let call = SignedCall::json(CALL, Service::Ssm, region, &endpoint, "AmazonSSM.GetParameters", body)?;
        let answer: Answer = parse(CALL, &self.call(&call).await?.body)?;
        let mut results = HashMap::new();
        for name in names {
            let found = answer.parameters.iter().find(|p| {
                let selected = format!("{}{}", p.name, p.selector.as_deref().unwrap_or(""));
                p.name == name || selected == name || p.arn.as_deref() == Some(name.as_str())
            });
            let result = match found {
                Some(parameter) => Ok(Secret::new(parameter.value.clone())),
                None => Err(AwsError::Item {
                    call: format!("{CALL} {name}"),
                    code: "ParameterNotFound".into(),
                    message: if answer.invalid_parameters.contains(&name) {
                        "no such parameter".into()
                    } else {
                        "not in the answer".into()
                    },
                }),
            };
            results.insert(name, result);
        }
        Ok(results)
    }
}

/// get_parameters answers every name it is given; this is for the impossible other case, without a panic.
fn missing_result(name: &str) -> AwsError {
    AwsError::Malformed { call: format!("ssm GetParameters {name}"), message: "no result for the name".into() }
}
