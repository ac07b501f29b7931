# KYC documents and tenant logos. Identity documents are the most sensitive data BrokerDesk holds, so the
# bucket is private by construction (public access block + bucket-owner-enforced ownership: no ACLs), encrypted
# with the customer-managed documents key (revocable, auditable in CloudTrail), versioned (an overwrite or
# delete can be undone) and reachable over TLS only. Logos are served through the application, never straight
# from S3, so nothing here needs to be public.

resource "aws_s3_bucket" "documents" {
  bucket = local.documents_bucket

  # Versions of KYC records must survive a careless `terraform destroy`; empty the bucket deliberately first.
  force_destroy = false

  tags = { Name = local.documents_bucket }
}

resource "aws_s3_bucket_public_access_block" "documents" {
  bucket = aws_s3_bucket.documents.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ACLs off: access is decided by IAM and the bucket policy alone.
resource "aws_s3_bucket_ownership_controls" "documents" {
  bucket = aws_s3_bucket.documents.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_versioning" "documents" {
  bucket = aws_s3_bucket.documents.id

  versioning_configuration {
    status = "Enabled"
  }
}

# Default encryption: every object written without encryption headers is encrypted with the documents key.
# The S3 bucket key cuts KMS requests (and their cost) by deriving per-object keys from a bucket-level data key.
resource "aws_s3_bucket_server_side_encryption_configuration" "documents" {
  bucket = aws_s3_bucket.documents.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.documents.arn
    }
    bucket_key_enabled = true
  }
}

# Old versions (a replaced passport scan, a deleted logo) stay recoverable for a while, get cheaper after
# documents_noncurrent_ia_days and are removed after documents_noncurrent_expiration_days. Current objects are
# never expired here: retention of live KYC records is the application's decision.
resource "aws_s3_bucket_lifecycle_configuration" "documents" {
  bucket = aws_s3_bucket.documents.id

  rule {
    id     = "noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_transition {
      noncurrent_days = var.documents_noncurrent_ia_days
      storage_class   = "STANDARD_IA"
    }

    noncurrent_version_expiration {
      noncurrent_days = var.documents_noncurrent_expiration_days
    }

    # Delete markers with no versions left behind them are clutter that slows listings.
    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    # Parts of abandoned multipart uploads are billed but invisible in listings.
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  # Noncurrent-version rules only make sense, and only validate cleanly, once versioning is on.
  depends_on = [aws_s3_bucket_versioning.documents]
}

data "aws_iam_policy_document" "documents_bucket" {
  # Refuse plain HTTP outright, whoever the caller is.
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.documents.arn,
      "${aws_s3_bucket.documents.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  # And TLS older than 1.2.
  statement {
    sid     = "DenyOldTLS"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.documents.arn,
      "${aws_s3_bucket.documents.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }

  # A writer that asks for a different encryption (SSE-S3, or another KMS key) is refused; a writer that says
  # nothing gets the default above. "IfExists" keeps header-less uploads working.
  statement {
    sid       = "DenyOtherEncryption"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.documents.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid       = "DenyOtherKMSKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.documents.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "StringNotEqualsIfExists"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.documents.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "documents" {
  bucket = aws_s3_bucket.documents.id
  policy = data.aws_iam_policy_document.documents_bucket.json

  # Applying a policy before the public access block is in place can be refused as "public"; order them.
  depends_on = [aws_s3_bucket_public_access_block.documents]
}
