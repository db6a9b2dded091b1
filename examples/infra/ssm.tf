# The contract with the Serverless services: every value they read with ${ssm:...}.

resource "aws_ssm_parameter" "db_pw_policy" {
  name  = "/db_pw_policy"
  type  = "String"
  value = aws_iam_policy.db_pw_policy.arn
}

resource "aws_ssm_parameter" "db_pw_name" {
  name  = "/db_pw_name"
  type  = "String"
  value = aws_secretsmanager_secret.database_password.name
}

resource "aws_ssm_parameter" "users_table" {
  name  = "/users/table_name"
  type  = "String"
  value = aws_dynamodb_table.users.name
}

resource "aws_ssm_parameter" "orders_table" {
  name  = "/orders/table_name"
  type  = "String"
  value = aws_dynamodb_table.orders.name
}

resource "aws_ssm_parameter" "feature_flags" {
  name  = "/legacy/feature_flags"
  type  = "String"
  value = jsonencode({ checkout_v2 = false })
}

resource "aws_ssm_parameter" "service_token" {
  name  = "/internal/service_token"
  type  = "SecureString"
  value = var.service_token
}

variable "service_token" {
  type      = string
  sensitive = true
  default   = "set-me-per-stage"
}

# The payments integration is not live in prod yet.
resource "aws_ssm_parameter" "payments_api_url" {
  count = terraform.workspace == "prod" ? 0 : 1
  name  = "/payments/api_url"
  type  = "String"
  value = "https://payments.${terraform.workspace}.acme.example/v2"
}
