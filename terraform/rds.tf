# PostgreSQL 15 on RDS. Cluster "main" (BD_DATABASE_URL) holds the platform schema and tenants; the
# tenant_cluster_count additional instances (BD_DATABASE_CLUSTERS) hold tenants only. Every instance is
# private (data subnets, no public address), encrypted with the platform key, backed up with point-in-time
# recovery, protected from deletion and configured by the same parameter group.
#
# The application connects as the RDS master user. BrokerDesk needs a login role that can CREATE ROLE (one
# NOLOGIN role per tenant) and owns the database; on RDS the master user is that role (rds_superuser, owner of
# db_name). A narrower login role (CREATEROLE, database owner, no rds_superuser) cannot be created from
# Terraform without a PostgreSQL provider reaching into the private subnets; docs/deployment.md shows the
# hardening step and how to swap the secret.

locals {
  db_major  = split(".", var.db_engine_version)[0]
  db_name   = "brokerdesk"
  db_user   = "brokerdesk"
  db_family = "postgres${local.db_major}"

  tenant_clusters = [for i in range(var.tenant_cluster_count) : "tenants-${i + 1}"]
}

resource "aws_db_subnet_group" "main" {
  name        = "${var.name_prefix}-db"
  description = "BrokerDesk databases: data subnets only"
  subnet_ids  = aws_subnet.data[*].id
}

resource "aws_db_parameter_group" "main" {
  name_prefix = "${var.name_prefix}-pg${local.db_major}-"
  family      = local.db_family
  description = "BrokerDesk PostgreSQL ${local.db_major}"

  # Refuse unencrypted connections: the URLs in Secrets Manager ask for sslmode=require.
  # pending-reboot is accepted whether the engine treats the parameter as static or dynamic; a new instance
  # starts with it in force either way.
  parameter {
    name         = "rds.force_ssl"
    value        = "1"
    apply_method = "pending-reboot"
  }

  # Slow statements in the PostgreSQL log (exported to CloudWatch below) are the first thing to look at when a
  # tenant's page is slow.
  parameter {
    name  = "log_min_duration_statement"
    value = tostring(var.db_log_min_duration_ms)
  }

  # Lock waits explain stuck migrations (each tenant migrates under its own advisory lock) and slow ledgers.
  parameter {
    name  = "log_lock_waits"
    value = "1"
  }

  # A transaction left idle inside the tenant gate holds its row locks; end it after 5 minutes rather than let it
  # block a ledger posting forever. Migrations and requests never sit idle inside a transaction that long.
  parameter {
    name  = "idle_in_transaction_session_timeout"
    value = "300000"
  }

  # Replacing a parameter group in use needs the new one to exist first.
  lifecycle {
    create_before_destroy = true
  }
}

# Alphanumeric only: the password is embedded in a postgres:// URL, where '@', ':', '/', '%' and friends would
# need escaping (and RDS refuses some of them anyway). 40 characters of [A-Za-z0-9] is ~238 bits.
resource "random_password" "db_main" {
  length  = 40
  special = false
}

resource "aws_db_instance" "main" {
  identifier = "${var.name_prefix}-main"

  engine                     = "postgres"
  engine_version             = var.db_engine_version
  auto_minor_version_upgrade = true
  instance_class             = var.db_instance_class
  parameter_group_name       = aws_db_parameter_group.main.name

  db_name  = local.db_name
  username = local.db_user
  password = random_password.db_main.result
  port     = 5432

  storage_type          = "gp3"
  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.platform.arn

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = var.db_backup_window
  maintenance_window        = var.db_maintenance_window
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name_prefix}-main-final"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.platform.arn
  performance_insights_retention_period = 7 # the free tier

  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]

  # Changes wait for the maintenance window unless an operator applies them on purpose.
  apply_immediately = false

  tags = { Name = "${var.name_prefix}-main", BrokerDeskCluster = "main" }
}

# Additional tenant clusters. Same shape as main; a count, not a map, because a cluster's name is written into
# every tenant row placed on it and must never change: clusters are only ever appended (tenants-1, tenants-2, ...).
resource "random_password" "db_tenant" {
  count = var.tenant_cluster_count

  length  = 40
  special = false
}

resource "aws_db_instance" "tenant" {
  count = var.tenant_cluster_count

  identifier = "${var.name_prefix}-${local.tenant_clusters[count.index]}"

  engine                     = "postgres"
  engine_version             = var.db_engine_version
  auto_minor_version_upgrade = true
  instance_class             = coalesce(var.tenant_cluster_instance_class, var.db_instance_class)
  parameter_group_name       = aws_db_parameter_group.main.name

  db_name  = local.db_name
  username = local.db_user
  password = random_password.db_tenant[count.index].result
  port     = 5432

  storage_type          = "gp3"
  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.platform.arn

  multi_az               = var.db_multi_az
  db_subnet_group_name   = aws_db_subnet_group.main.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false

  backup_retention_period   = var.db_backup_retention_days
  backup_window             = var.db_backup_window
  maintenance_window        = var.db_maintenance_window
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.db_deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.name_prefix}-${local.tenant_clusters[count.index]}-final"

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.platform.arn
  performance_insights_retention_period = 7

  enabled_cloudwatch_logs_exports = ["postgresql", "upgrade"]

  apply_immediately = false

  tags = {
    Name              = "${var.name_prefix}-${local.tenant_clusters[count.index]}"
    BrokerDeskCluster = local.tenant_clusters[count.index]
  }
}
