# The value is entered by hand in the console; Terraform owns the secret and the policy to read it.
resource "aws_secretsmanager_secret" "database_password" {
  name        = "database_password"
  description = "Database password of the acme app"
}

resource "aws_secretsmanager_secret" "legacy_api_key" {
  name        = "legacy_api_key"
  description = "API key of the legacy partner integration"
}

resource "aws_iam_policy" "db_pw_policy" {
  name        = "db_pw_policy"
  description = "Read the database password"
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["secretsmanager:GetSecretValue"]
      Resource = [aws_secretsmanager_secret.database_password.arn]
    }]
  })
}

resource "aws_kms_key" "data" {
  description = "acme data key"
}

resource "aws_kms_alias" "data" {
  name          = "alias/acme-data"
  target_key_id = aws_kms_key.data.key_id
}
