# A Terraform root the tests deploy with the real Terraform (1.0.3): no provider resources (the AWS
# provider cannot be downloaded on these machines), its state in the management account's bucket
# under that account's own profile, reading the shared core's state of the same workspace.
terraform {
  required_version = ">= 1.0.0"

  backend "s3" {
    bucket         = "acme-terraform-state"
    key            = "release/terraform.tfstate"
    region         = "us-east-1"
    profile        = "master"
    dynamodb_table = "acme-terraform-locks"
  }
}

variable "hold_url" {
  description = "An HTTP state the apply reads while it holds the state lock (the test of two deploys at once)."
  type        = string
  default     = ""
}

# The core's state of this workspace, read as any consumer root reads it.
data "terraform_remote_state" "core" {
  backend   = "s3"
  workspace = terraform.workspace
  config = {
    bucket           = "acme-terraform-state"
    key              = "core/terraform.tfstate"
    region           = "us-east-1"
    profile          = "master"
    force_path_style = true
  }
}

data "terraform_remote_state" "hold" {
  count   = var.hold_url == "" ? 0 : 1
  backend = "http"
  config = {
    address = var.hold_url
  }
}

output "stage" {
  value = terraform.workspace
}

output "core_outputs" {
  value = sort(keys(data.terraform_remote_state.core.outputs))
}
