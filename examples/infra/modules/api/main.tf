# The REST API every Serverless service attaches its endpoints to (situation 1 of the write-up).
variable "stage" {
  type = string
}

resource "aws_api_gateway_rest_api" "main" {
  name        = "acme-api"
  description = "API for our App"
}

resource "aws_ssm_parameter" "rest_api_id" {
  name  = "/api/rest_api_id"
  type  = "String"
  value = aws_api_gateway_rest_api.main.id
}

resource "aws_ssm_parameter" "root_resource_id" {
  name  = "/api/root_resource_id"
  type  = "String"
  value = aws_api_gateway_rest_api.main.root_resource_id
}

# CORS headers on default errors, so a bad request shows its real error (situation 3).
resource "aws_api_gateway_gateway_response" "default_4xx" {
  rest_api_id   = aws_api_gateway_rest_api.main.id
  response_type = "DEFAULT_4XX"
  response_parameters = {
    "gatewayresponse.header.Access-Control-Allow-Origin"  = "'*'"
    "gatewayresponse.header.Access-Control-Allow-Headers" = "'*'"
  }
}

resource "aws_api_gateway_gateway_response" "default_5xx" {
  rest_api_id   = aws_api_gateway_rest_api.main.id
  response_type = "DEFAULT_5XX"
  response_parameters = {
    "gatewayresponse.header.Access-Control-Allow-Origin"  = "'*'"
    "gatewayresponse.header.Access-Control-Allow-Headers" = "'*'"
  }
}

# One authorizer, shared by every service through /api/authorizer_id (situation 4). The auth
# service must be deployed first: this reads its function.
data "aws_lambda_function" "authorizer" {
  function_name = "auth-${var.stage}-authorize"
}

resource "aws_api_gateway_authorizer" "main" {
  name            = "shared-authorizer"
  rest_api_id     = aws_api_gateway_rest_api.main.id
  type            = "TOKEN"
  authorizer_uri  = data.aws_lambda_function.authorizer.invoke_arn
  identity_source = "method.request.header.Authorization"
}

resource "aws_ssm_parameter" "authorizer_id" {
  name  = "/api/authorizer_id"
  type  = "String"
  value = aws_api_gateway_authorizer.main.id
}

# Situation 2, the catch-22: the stage is created by the first `serverless deploy`, so this mapping
# only applies on the second `terraform apply` of a new stage.
resource "aws_api_gateway_domain_name" "main" {
  domain_name              = "api.${var.stage}.acme.example"
  regional_certificate_arn = "arn:aws:acm:us-east-1:000000000000:certificate/acme-${var.stage}"
  endpoint_configuration {
    types = ["REGIONAL"]
  }
}

resource "aws_api_gateway_base_path_mapping" "main" {
  api_id      = aws_api_gateway_rest_api.main.id
  stage_name  = var.stage
  domain_name = aws_api_gateway_domain_name.main.domain_name
}
