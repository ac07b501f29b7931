# Two kinds of task, each with its own pair of roles:
#   service - the api and worker services: read their own secrets at start (execution role); at run time read,
#             write, list and erase documents in the documents bucket, encrypted with the documents key (task
#             role), and nothing else in S3 or KMS.
#   ops     - the one-off migrate/tenants task: reads its secrets at start; no AWS access at run time at all
#             (it talks to Postgres, Redis and SMTP only), so it has no task role.
# Execution roles are what ECS itself uses to start a task (pull the image, create log streams, fetch secrets);
# task roles are what the application's AWS SDK gets. Nothing here uses a managed policy with "*" resources
# except ecr:GetAuthorizationToken, which has no resource-level form.

# ECS assumes the execution role to start a task. The trust policy is the one AWS documents for execution
# roles, without source conditions, which ECS does not promise to send for this role.
data "aws_iam_policy_document" "execution_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }
  }
}

# Task roles reach the application's AWS SDK. Only ECS acting for tasks of this account may assume them
# (confused-deputy protection, as AWS documents for task roles).
data "aws_iam_policy_document" "task_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${var.region}:${local.account_id}:*"]
    }
  }
}

locals {
  task_kinds = {
    service = {
      secrets    = local.service_secrets
      log_groups = [aws_cloudwatch_log_group.api.arn, aws_cloudwatch_log_group.worker.arn]
    }
    ops = {
      secrets    = local.ops_secrets
      log_groups = [aws_cloudwatch_log_group.ops.arn]
    }
  }
}

resource "aws_iam_role" "execution" {
  for_each = local.task_kinds

  name               = "${var.name_prefix}-${each.key}-execution"
  description        = "ECS starts BrokerDesk ${each.key} tasks: image pull, logs, secrets"
  assume_role_policy = data.aws_iam_policy_document.execution_assume.json
}

data "aws_iam_policy_document" "execution" {
  for_each = local.task_kinds

  statement {
    sid       = "ECRAuth"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  # Pull rights only on the BrokerDesk repository when the image lives in ECR; another registry needs no AWS
  # permission (a private one would need repositoryCredentials, not covered here).
  dynamic "statement" {
    for_each = local.ecr_repository_arn == null ? [] : [local.ecr_repository_arn]

    content {
      sid       = "ECRPull"
      actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
      resources = [statement.value]
    }
  }

  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for arn in each.value.log_groups : "${arn}:*"]
  }

  statement {
    sid       = "OwnSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(each.value.secrets)
  }

  # The secrets are encrypted with the platform key; decrypting is allowed only when Secrets Manager asks.
  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [aws_kms_key.platform.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  for_each = local.task_kinds

  name   = "start-task"
  role   = aws_iam_role.execution[each.key].id
  policy = data.aws_iam_policy_document.execution[each.key].json
}

# Run-time role of the api and worker containers.
resource "aws_iam_role" "service_task" {
  name               = "${var.name_prefix}-service-task"
  description        = "BrokerDesk api and worker at run time: documents bucket and key"
  assume_role_policy = data.aws_iam_policy_document.task_assume.json
}

# Keys are "<tenant id>/..." at the bucket's root (infra/blob), so the grant is the bucket, not a prefix of it.
# Put (one PutObject; the store never uses multipart), Get (Open, and the presigned links, which act with these
# rights), Delete (a delete marker: the previous version stays for the noncurrent-version lifetime) and, for
# erasure of a client (blob.DeletePrefix), listing versions and deleting them for good.
data "aws_iam_policy_document" "service_task" {
  statement {
    sid = "DocumentsObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:DeleteObjectVersion",
    ]
    resources = ["${aws_s3_bucket.documents.arn}/*"]
  }

  # Listing is a bucket-level action (ListObjectsV2 and ListObjectVersions).
  statement {
    sid       = "DocumentsList"
    actions   = ["s3:ListBucket", "s3:ListBucketVersions"]
    resources = [aws_s3_bucket.documents.arn]
  }

  # SSE-KMS: S3 asks KMS for a data key on write and to decrypt it on read, with the caller's rights. Only
  # through S3, so the role cannot use the key for anything else.
  statement {
    sid       = "DocumentsKey"
    actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
    resources = [aws_kms_key.documents.arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["s3.${var.region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "service_task" {
  name   = "documents"
  role   = aws_iam_role.service_task.id
  policy = data.aws_iam_policy_document.service_task.json
}
