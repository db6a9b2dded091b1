//! SSM Parameter Store: the seam where Terraform and Serverless hand values to each other.
//!
//! Only `DescribeParameters` metadata is read here; values are never requested with decryption.

use aws_config::SdkConfig;

use crate::error::aws_message;

/// Counts the parameters of one account and region (`DescribeParameters`, every page).
pub async fn count_parameters(config: &SdkConfig) -> Result<u64, String> {
    let client = aws_sdk_ssm::Client::new(config);
    let pages: Vec<_> = client
        .describe_parameters()
        .max_results(50)
        .into_paginator()
        .send()
        .try_collect()
        .await
        .map_err(|e| format!("ssm:DescribeParameters: {}", aws_message(&e)))?;
    Ok(pages.iter().map(|p| p.parameters().len() as u64).sum())
}
