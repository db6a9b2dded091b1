terraform {
  required_version = ">= 1.5"

  # State lives in the management account; workspaces dev/qa/prod are stored at env:/<workspace>/<key>.
  backend "s3" {
    bucket         = "acme-terraform-state"
    key            = "core/terraform.tfstate"
    region         = "us-east-1"
    profile        = "master"
    dynamodb_table = "acme-terraform-locks"
  }

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}

# One account per stage: the workspace name is the stage and the AWS profile.
provider "aws" {
  profile = terraform.workspace
  region  = var.region
}

variable "region" {
  type    = string
  default = "us-east-1"
}

module "api" {
  source = "./modules/api"
  stage  = terraform.workspace
}
