# The database password's rotation: a function Terraform owns; no Serverless service deploys it.
resource "aws_iam_role" "rotation" {
  name = "acme-${terraform.workspace}-rotation"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_lambda_function" "rotate_db_password" {
  function_name = "acme-${terraform.workspace}-rotate-db-password"
  role          = aws_iam_role.rotation.arn
  handler       = "rotate.handler"
  runtime       = "python3.12"
  filename      = "rotation/rotate.zip"

  environment {
    variables = {
      SECRET_ID = aws_secretsmanager_secret.database_password.name
    }
  }
}
