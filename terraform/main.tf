# Shared lookups and names. Resources live in the file named after their concern (network.tf, ecs.tf, ...).

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

# Only AZs that are up and need no opt-in (Local Zones would break the subnet layout).
data "aws_availability_zones" "available" {
  state = "available"

  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  azs        = slice(data.aws_availability_zones.available.names, 0, var.az_count)

  # ECR repository in this region, if image_repository is one: its execution role pull rights are scoped to it.
  ecr_match = regexall("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)$", var.image_repository)
  ecr_repository_arn = length(local.ecr_match) == 0 ? null : format(
    "arn:%s:ecr:%s:%s:repository/%s",
    local.partition, local.ecr_match[0][1], local.ecr_match[0][0], local.ecr_match[0][2],
  )

  image         = "${var.image_repository}:${var.image_tag}"
  migrate_image = "${var.image_repository}:${coalesce(var.migrate_image_tag, var.image_tag)}"

  documents_bucket = coalesce(var.documents_bucket_name, "${var.name_prefix}-documents-${local.account_id}")

  smtp_port = tonumber(split(":", var.smtp_addr)[1])
}
