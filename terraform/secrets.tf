# Everything secret reaches the containers through Secrets Manager: ECS reads each secret at task start with the
# task's execution role and sets it as an environment variable, so no secret value is ever in the task
# definition, the image or the repository. Values come from two places:
#   generated here - database passwords and the Redis AUTH token (random_password), assembled into the URLs
#                    the application reads;
#   given          - smtp_password and stripe_secret_key, sensitive variables set through TF_VAR_* at apply time.
# The application's own keys (BD_JWT_KEYS signs access tokens, BD_DATA_KEYS seals secrets in the database and
# derives the keys of signed links) are generated here once (random_bytes) in their kid:base64 form; rotation
# happens in Secrets Manager (see jwt_keys below), not in Terraform.
# Either way they also sit in the Terraform state, which is why versions.tf insists on an encrypted remote
# backend. All secrets are encrypted with the platform key.

locals {
  # sslmode=require: TLS to RDS (rds.force_ssl refuses anything else). verify-full would also need the RDS CA
  # bundle inside the image; see docs/deployment.md.
  db_main_url = format(
    "postgres://%s:%s@%s:%d/%s?sslmode=require",
    local.db_user, random_password.db_main.result, aws_db_instance.main.address, aws_db_instance.main.port, local.db_name,
  )

  # BD_DATABASE_CLUSTERS: name=postgres://...;name=postgres://...
  db_clusters_value = join(";", [
    for i, name in local.tenant_clusters : format(
      "%s=postgres://%s:%s@%s:%d/%s?sslmode=require",
      name, local.db_user, random_password.db_tenant[i].result, aws_db_instance.tenant[i].address,
      aws_db_instance.tenant[i].port, local.db_name,
    )
  ])

  # rediss:// = TLS; the AUTH token is the password of the default user; database 0.
  redis_url = format(
    "rediss://:%s@%s:%d/0",
    random_password.redis_auth.result, aws_elasticache_replication_group.main.primary_endpoint_address,
    aws_elasticache_replication_group.main.port,
  )

  smtp_auth = var.smtp_username != ""
}

resource "aws_secretsmanager_secret" "database_url" {
  name                    = "${var.name_prefix}/BD_DATABASE_URL"
  description             = "BrokerDesk platform cluster (main) URL, with password"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "database_url" {
  secret_id     = aws_secretsmanager_secret.database_url.id
  secret_string = local.db_main_url
}

resource "aws_secretsmanager_secret" "database_clusters" {
  count = var.tenant_cluster_count > 0 ? 1 : 0

  name                    = "${var.name_prefix}/BD_DATABASE_CLUSTERS"
  description             = "BrokerDesk additional tenant clusters: name=URL;name=URL, with passwords"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "database_clusters" {
  count = var.tenant_cluster_count > 0 ? 1 : 0

  secret_id     = aws_secretsmanager_secret.database_clusters[0].id
  secret_string = local.db_clusters_value
}

# The Redis URL carries the AUTH token, so it is a secret too, not a plain environment variable.
resource "aws_secretsmanager_secret" "redis_url" {
  name                    = "${var.name_prefix}/BD_REDIS_URL"
  description             = "BrokerDesk Redis URL (rediss://, with AUTH token)"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "redis_url" {
  secret_id     = aws_secretsmanager_secret.redis_url.id
  secret_string = local.redis_url
}

resource "aws_secretsmanager_secret" "smtp_password" {
  count = local.smtp_auth ? 1 : 0

  name                    = "${var.name_prefix}/BD_SMTP_PASSWORD"
  description             = "BrokerDesk SMTP password"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "smtp_password" {
  count = local.smtp_auth ? 1 : 0

  secret_id     = aws_secretsmanager_secret.smtp_password[0].id
  secret_string = var.smtp_password
}

resource "aws_secretsmanager_secret" "stripe_secret_key" {
  count = var.stripe_enabled ? 1 : 0

  name                    = "${var.name_prefix}/BD_STRIPE_SECRET_KEY"
  description             = "BrokerDesk Stripe secret API key"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "stripe_secret_key" {
  count = var.stripe_enabled ? 1 : 0

  secret_id     = aws_secretsmanager_secret.stripe_secret_key[0].id
  secret_string = var.stripe_secret_key
}

# 32 random bytes each: an Ed25519 seed for BD_JWT_KEYS, an AES-256 key for BD_DATA_KEYS (docs/security.md).
resource "random_bytes" "jwt_key" {
  length = 32
}

resource "random_bytes" "data_key" {
  length = 32
}

# Rotating either key means putting a new key first and keeping the old one after it (docs/security.md), by
# writing a new secret value in Secrets Manager and redeploying the services (aws ecs update-service
# --force-new-deployment). Terraform writes the first value only and then leaves the value alone, so an apply
# never undoes a rotation.
resource "aws_secretsmanager_secret" "jwt_keys" {
  name                    = "${var.name_prefix}/BD_JWT_KEYS"
  description             = "BrokerDesk access-token signing keys: kid:base64-seed,... (first signs, all verify)"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "jwt_keys" {
  secret_id     = aws_secretsmanager_secret.jwt_keys.id
  secret_string = format("tf1:%s", random_bytes.jwt_key.base64)

  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_secretsmanager_secret" "data_keys" {
  name                    = "${var.name_prefix}/BD_DATA_KEYS"
  description             = "BrokerDesk data keys: kid:base64-32-bytes,... (first seals and derives, all open)"
  kms_key_id              = aws_kms_key.platform.arn
  recovery_window_in_days = var.secret_recovery_window_days
}

resource "aws_secretsmanager_secret_version" "data_keys" {
  secret_id     = aws_secretsmanager_secret.data_keys.id
  secret_string = format("tf1:%s", random_bytes.data_key.base64)

  lifecycle {
    ignore_changes = [secret_string]
  }
}

locals {
  # Environment variable name -> secret ARN, per kind of task. The one-off task (migrate, tenants) sends
  # invitation emails during provisioning but never talks to Stripe.
  common_secrets = merge(
    {
      BD_DATABASE_URL = aws_secretsmanager_secret.database_url.arn
      BD_REDIS_URL    = aws_secretsmanager_secret.redis_url.arn
      # Every process needs both: configuration refuses to start without them, and the one-off task seals and
      # reseals (brokerdesk data-keys reseal) as the services do.
      BD_JWT_KEYS  = aws_secretsmanager_secret.jwt_keys.arn
      BD_DATA_KEYS = aws_secretsmanager_secret.data_keys.arn
    },
    var.tenant_cluster_count > 0 ? { BD_DATABASE_CLUSTERS = aws_secretsmanager_secret.database_clusters[0].arn } : {},
    local.smtp_auth ? { BD_SMTP_PASSWORD = aws_secretsmanager_secret.smtp_password[0].arn } : {},
  )

  service_secrets = merge(
    local.common_secrets,
    var.stripe_enabled ? { BD_STRIPE_SECRET_KEY = aws_secretsmanager_secret.stripe_secret_key[0].arn } : {},
  )

  ops_secrets = local.common_secrets
}
