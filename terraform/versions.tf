# Terraform 1.11 or newer: the configuration uses variable validations that refer to other variables (1.9+),
# the S3 backend's native lock file (1.10+) and mocked providers in tests/ (1.7+); 1.11 is what it is checked
# with.
terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x only (checked against 5.100): 6.0 changed arguments of several resources used here, so a major
      # upgrade must be a deliberate change, not a side effect of `terraform init -upgrade`.
      version = "~> 5.70"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }

  # State holds the generated database and Redis passwords, so it must never live on a laptop or in git.
  # Partial configuration: pass the bucket, key and region at init time, e.g.
  #   terraform init -backend-config=backend.hcl
  # (see backend.hcl.example). `use_lockfile` (Terraform >= 1.10) locks through S3 itself, no DynamoDB table.
  backend "s3" {}
}

provider "aws" {
  region = var.region

  # Every resource carries these, so cost reports and IAM conditions can select the deployment.
  default_tags {
    tags = merge(
      {
        Project     = "brokerdesk"
        Deployment  = var.name_prefix
        ManagedBy   = "terraform"
        Environment = var.environment
      },
      var.tags,
    )
  }
}
