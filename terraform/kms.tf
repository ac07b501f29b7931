# Two customer-managed keys, so that the right to decrypt one kind of data never implies the other:
#   documents - S3 objects (KYC documents, logos). The application task role may use it, through S3 only.
#   platform  - RDS storage and Performance Insights, ElastiCache at rest, Secrets Manager, CloudWatch Logs.
#               The application never calls KMS with it directly; the services do on its behalf, and the task
#               execution role may decrypt through Secrets Manager only.
# Both rotate their key material every year (enable_key_rotation); old material stays available for decryption.
# Each policy delegates to IAM in this account (the account root statement), which is how the roles in iam.tf and
# the operators' own IAM policies get their rights; the platform key also lets CloudWatch Logs use it for this
# deployment's log groups only.

data "aws_iam_policy_document" "documents_key" {
  statement {
    sid       = "AccountIAMPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "documents" {
  description             = "${var.name_prefix}: KYC documents and logos in S3"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.documents_key.json
}

resource "aws_kms_alias" "documents" {
  name          = "alias/${var.name_prefix}/documents"
  target_key_id = aws_kms_key.documents.key_id
}

data "aws_iam_policy_document" "platform_key" {
  statement {
    sid       = "AccountIAMPolicies"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts with the key itself (not through a grant), so the key policy must name it, limited
  # by encryption context to this deployment's log groups.
  statement {
    sid = "CloudWatchLogs"
    actions = [
      "kms:Encrypt*",
      "kms:Decrypt*",
      "kms:ReEncrypt*",
      "kms:GenerateDataKey*",
      "kms:Describe*",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${var.region}:${local.account_id}:log-group:/ecs/${var.name_prefix}/*"]
    }
  }
}

resource "aws_kms_key" "platform" {
  description             = "${var.name_prefix}: RDS, ElastiCache, Secrets Manager and CloudWatch Logs"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.platform_key.json
}

resource "aws_kms_alias" "platform" {
  name          = "alias/${var.name_prefix}/platform"
  target_key_id = aws_kms_key.platform.key_id
}
