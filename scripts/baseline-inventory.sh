#!/usr/bin/env bash
# THE BASELINE of the scan benchmark: the sequential AWS CLI script a user would write for the same
# inventory as a Stagecraft scan — for each profile (one per account): who am I, then every stack with
# its template and resources, every function with its tags, every parameter, every REST API with its
# resources, authorizers and stages, every table, bucket, role with its policies, key and secret.
# Usage: baseline-inventory.sh PROFILE...
set -euo pipefail
q() { aws --output text "$@"; }
for p in "$@"; do
  export AWS_PROFILE="$p"
  q sts get-caller-identity >/dev/null
  for s in $(q cloudformation list-stacks --query 'StackSummaries[?StackStatus!=`DELETE_COMPLETE`].StackName'); do
    q cloudformation get-template --stack-name "$s" >/dev/null
    q cloudformation list-stack-resources --stack-name "$s" >/dev/null
  done
  for f in $(q lambda list-functions --query 'Functions[].FunctionArn'); do
    q lambda list-tags --resource "$f" >/dev/null
  done
  q ssm describe-parameters >/dev/null
  for a in $(q apigateway get-rest-apis --query 'items[].id'); do
    q apigateway get-resources --rest-api-id "$a" >/dev/null
    q apigateway get-authorizers --rest-api-id "$a" >/dev/null
    q apigateway get-stages --rest-api-id "$a" >/dev/null
  done
  q apigatewayv2 get-apis >/dev/null
  for t in $(q dynamodb list-tables --query 'TableNames[]'); do
    q dynamodb describe-table --table-name "$t" >/dev/null
  done
  for b in $(q s3api list-buckets --query 'Buckets[].Name'); do
    q s3api get-bucket-tagging --bucket "$b" >/dev/null 2>&1 || true
  done
  for r in $(q iam list-roles --query 'Roles[].RoleName'); do
    q iam list-attached-role-policies --role-name "$r" >/dev/null
  done
  for k in $(q kms list-keys --query 'Keys[].KeyId'); do
    q kms describe-key --key-id "$k" >/dev/null
  done
  q secretsmanager list-secrets >/dev/null
done
