# Inputs of the BrokerDesk deployment. Only region, base_domain, hosted_zone_id, image_repository, image_tag,
# smtp_addr and smtp_from have no default; everything else starts from a production-shaped value.
# Secret inputs (smtp_password, stripe_secret_key) are `sensitive`: pass them through TF_VAR_* environment
# variables from a password manager or CI secret store, never through a committed .tfvars file.

# --- Placement and naming -------------------------------------------------------------------------------------

variable "region" {
  description = "AWS region of the whole deployment, e.g. eu-west-1."
  type        = string
}

variable "name_prefix" {
  description = "Prefix of every resource name; one prefix per deployment (e.g. brokerdesk-prod)."
  type        = string
  default     = "brokerdesk"

  # Load balancer and target group names are limited to 32 characters and we append up to 11.
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix: 3 to 21 lowercase letters, digits or '-', starting with a letter."
  }
}

variable "environment" {
  description = "Environment tag (production, staging, ...)."
  type        = string
  default     = "production"
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# --- DNS and certificate -------------------------------------------------------------------------------------

variable "base_domain" {
  description = "BD_BASE_DOMAIN: tenants live at <slug>.<base_domain>, the operator console at console.<base_domain>."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]*[a-z0-9])?\\.)+[a-z]{2,}$", var.base_domain))
    error_message = "base_domain: a lowercase DNS name such as brokerdesk.app, without scheme, port or trailing dot."
  }
}

variable "hosted_zone_id" {
  description = "Route53 public hosted zone that serves base_domain (for the wildcard record and certificate validation)."
  type        = string
}

variable "create_apex_record" {
  description = "Also point base_domain itself at the load balancer (leave false if the apex is a marketing site elsewhere)."
  type        = bool
  default     = false
}

# --- Network -------------------------------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "VPC address range, cut into 16 equal blocks: one public, one private (app) and one data subnet per AZ."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 20
    error_message = "vpc_cidr: an IPv4 CIDR of /20 or larger (a /16 is recommended)."
  }
}

variable "az_count" {
  description = "Availability zones to spread over (2 or more: RDS Multi-AZ, Redis failover and the ALB need two)."
  type        = number
  default     = 2

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 4
    error_message = "az_count: 2 to 4."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all AZs instead of one per AZ: cheaper, but an AZ outage cuts the others' egress."
  type        = bool
  default     = false
}

variable "app_port" {
  description = "Container port of BD_HTTP_ADDR; the only port the load balancer reaches."
  type        = number
  default     = 8080
}

variable "internal_port" {
  description = "Container port of BD_INTERNAL_ADDR (/metrics, /healthz, /readyz); never behind the load balancer."
  type        = number
  default     = 9090
}

variable "metrics_source_security_group_ids" {
  description = "Security groups (e.g. a Prometheus scraper) allowed to reach internal_port on the tasks. Empty: the internal listener binds to 127.0.0.1 only."
  type        = list(string)
  default     = []
}

variable "app_egress_extra_ports" {
  description = "Extra outbound TCP ports the tasks may open to the internet besides 443 and the SMTP port, e.g. an MT4 bridge or MT5 manager port."
  type        = list(number)
  default     = []
}

# --- Image and processes -------------------------------------------------------------------------------------

variable "image_repository" {
  description = "Container repository of the brokerdesk image, e.g. 111122223333.dkr.ecr.eu-west-1.amazonaws.com/brokerdesk. An ECR repository in this account gets pull rights scoped to it."
  type        = string
}

variable "image_tag" {
  description = "Image tag the api and worker services run. Prefer an immutable tag (git SHA) over latest."
  type        = string
}

variable "migrate_image_tag" {
  description = "Image tag of the one-off migrate/tenants task; defaults to image_tag. Set it ahead of image_tag to migrate before a rollout."
  type        = string
  default     = null
}

variable "container_entrypoint" {
  description = "Entrypoint that runs the brokerdesk binary in the image; subcommands (serve, worker, migrate) are appended."
  type        = list(string)
  default     = ["brokerdesk"]
}

variable "cpu_architecture" {
  description = "Fargate CPU architecture the image is built for: X86_64 or ARM64 (Graviton, about 20% cheaper)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture: X86_64 or ARM64."
  }
}

variable "services_enabled" {
  description = "Create the api and worker ECS services. The first apply sets it to false so the migrate task can run before anything serves (see docs/deployment.md)."
  type        = bool
  default     = true
}

variable "api_cpu" {
  description = "Fargate CPU units per api task (256, 512, 1024, ...)."
  type        = number
  default     = 512
}

variable "api_memory" {
  description = "Memory (MiB) per api task; must be a valid Fargate combination with api_cpu."
  type        = number
  default     = 1024
}

variable "api_desired_count" {
  description = "api tasks when the service is created; afterwards CPU autoscaling moves it between api_min_count and api_max_count."
  type        = number
  default     = 2
}

variable "api_min_count" {
  description = "Autoscaling floor of api tasks (2 or more keeps one task per AZ)."
  type        = number
  default     = 2
}

variable "api_max_count" {
  description = "Autoscaling ceiling of api tasks. Mind database connections: tasks x clusters x database_max_conns."
  type        = number
  default     = 10

  validation {
    condition     = var.api_max_count >= var.api_min_count
    error_message = "api_max_count must be at least api_min_count."
  }
}

variable "api_cpu_target" {
  description = "Average CPU utilisation (percent) the api autoscaling policy aims for."
  type        = number
  default     = 60
}

variable "worker_cpu" {
  description = "Fargate CPU units per worker task."
  type        = number
  default     = 512
}

variable "worker_memory" {
  description = "Memory (MiB) per worker task."
  type        = number
  default     = 1024
}

variable "worker_desired_count" {
  description = "worker tasks (Asynq spreads jobs over them)."
  type        = number
  default     = 2
}

variable "migrate_cpu" {
  description = "Fargate CPU units of the one-off migrate/tenants task."
  type        = number
  default     = 512
}

variable "migrate_memory" {
  description = "Memory (MiB) of the one-off migrate/tenants task."
  type        = number
  default     = 1024
}

variable "container_insights" {
  description = "ECS Container Insights (per-task CPU/memory metrics; billed as custom metrics and logs)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "CloudWatch retention of application logs."
  type        = number
  default     = 90
}

# --- Application settings (non-secret BD_* variables) --------------------------------------------------------

variable "log_level" {
  description = "BD_LOG_LEVEL: debug, info, warn or error."
  type        = string
  default     = "info"

  validation {
    condition     = contains(["debug", "info", "warn", "error"], var.log_level)
    error_message = "log_level: debug, info, warn or error."
  }
}

variable "database_max_conns" {
  description = "BD_DATABASE_MAX_CONNS: connections per cluster pool, per task."
  type        = number
  default     = 20
}

variable "worker_concurrency" {
  description = "BD_WORKER_CONCURRENCY: jobs one worker task runs at once."
  type        = number
  default     = 10
}

variable "migrate_concurrency" {
  description = "BD_MIGRATE_CONCURRENCY: tenants the migrate task works on at once."
  type        = number
  default     = 4
}

variable "shutdown_timeout_seconds" {
  description = "BD_SHUTDOWN_TIMEOUT in seconds. ECS waits 15 s longer before SIGKILL (Fargate allows at most 120 s in total)."
  type        = number
  default     = 20

  validation {
    condition     = var.shutdown_timeout_seconds >= 1 && var.shutdown_timeout_seconds <= 105
    error_message = "shutdown_timeout_seconds: 1 to 105 (Fargate's stop timeout is capped at 120 s)."
  }
}

variable "smtp_addr" {
  description = "BD_SMTP_ADDR host:port, e.g. email-smtp.eu-west-1.amazonaws.com:587 for SES."
  type        = string

  validation {
    condition     = can(regex("^[^:/ ]+:[0-9]+$", var.smtp_addr))
    error_message = "smtp_addr: host:port."
  }
}

variable "smtp_from" {
  description = "BD_SMTP_FROM, e.g. \"BrokerDesk <no-reply@brokerdesk.app>\"."
  type        = string
}

variable "smtp_username" {
  description = "BD_SMTP_USERNAME (not secret). Empty: no SMTP authentication and no SMTP password secret."
  type        = string
  default     = ""
}

variable "smtp_password" {
  description = "BD_SMTP_PASSWORD; required when smtp_username is set. Stored in Secrets Manager, injected at task start."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.smtp_username == "" || try(length(var.smtp_password) > 0, false)
    error_message = "smtp_password must be set (TF_VAR_smtp_password) when smtp_username is set."
  }
}

variable "stripe_enabled" {
  description = "Create the Stripe key secret and give it to the api and worker (billing stays off without a key)."
  type        = bool
  default     = false
}

variable "stripe_secret_key" {
  description = "Stripe secret API key (sk_live_...); required when stripe_enabled. Stored in Secrets Manager."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = !var.stripe_enabled || try(length(var.stripe_secret_key) > 0, false)
    error_message = "stripe_secret_key must be set (TF_VAR_stripe_secret_key) when stripe_enabled is true."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted Secrets Manager secret can still be restored (0 deletes at once; only for throwaway stacks)."
  type        = number
  default     = 7
}

# --- Documents (S3) and keys -----------------------------------------------------------------------------------

variable "documents_bucket_name" {
  description = "Name of the KYC documents and logos bucket; default <name_prefix>-documents-<account id>."
  type        = string
  default     = null
}

variable "documents_noncurrent_ia_days" {
  description = "Days after which an overwritten or deleted document version moves to STANDARD_IA (30 or more)."
  type        = number
  default     = 30
}

variable "documents_noncurrent_expiration_days" {
  description = "Days after which an overwritten or deleted document version is removed for good. Check your KYC record-keeping obligations before lowering it."
  type        = number
  default     = 365

  validation {
    condition     = var.documents_noncurrent_expiration_days > var.documents_noncurrent_ia_days
    error_message = "documents_noncurrent_expiration_days must be greater than documents_noncurrent_ia_days."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled KMS key deletion takes effect (7-30); a deleted key makes its data unreadable."
  type        = number
  default     = 30
}

# --- PostgreSQL ------------------------------------------------------------------------------------------------

variable "db_engine_version" {
  description = "RDS PostgreSQL version; a major version alone (\"15\") lets RDS pick and auto-upgrade the minor."
  type        = string
  default     = "15"

  validation {
    condition     = can(regex("^15(\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version: PostgreSQL 15 (\"15\" or \"15.N\"); BrokerDesk is built and tested against 15."
  }
}

variable "db_instance_class" {
  description = "Instance class of the platform cluster (main)."
  type        = string
  default     = "db.m6g.large"
}

variable "db_allocated_storage" {
  description = "Initial gp3 storage (GiB) of each database cluster."
  type        = number
  default     = 100
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB) of each database cluster; 0 turns storage autoscaling off."
  type        = number
  default     = 1000
}

variable "db_multi_az" {
  description = "Synchronous standby in a second AZ with automatic failover (doubles the instance cost)."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Automated backup and point-in-time-recovery window in days (1-35)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days: 1 to 35 (0 would turn backups off)."
  }
}

variable "db_backup_window" {
  description = "Daily UTC backup window (must not overlap the maintenance window)."
  type        = string
  default     = "01:00-02:00"
}

variable "db_maintenance_window" {
  description = "Weekly UTC maintenance window. Forex markets close Friday 22:00 UTC to Sunday 22:00 UTC."
  type        = string
  default     = "sat:03:00-sat:04:00"
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database instances (turn off deliberately, in its own apply, before a destroy)."
  type        = bool
  default     = true
}

variable "db_log_min_duration_ms" {
  description = "Log statements slower than this (ms); -1 turns it off."
  type        = number
  default     = 500
}

variable "tenant_cluster_count" {
  description = "Additional tenant database clusters (BD_DATABASE_CLUSTERS), named tenants-1, tenants-2, ... Only append: lowering the count destroys the highest-numbered cluster and its tenants' data."
  type        = number
  default     = 0

  validation {
    condition     = var.tenant_cluster_count >= 0 && var.tenant_cluster_count <= 20
    error_message = "tenant_cluster_count: 0 to 20."
  }
}

variable "tenant_cluster_instance_class" {
  description = "Instance class of the additional tenant clusters; default db_instance_class."
  type        = string
  default     = null
}

# --- Redis -----------------------------------------------------------------------------------------------------

variable "redis_engine_version" {
  description = "ElastiCache Redis OSS version (major.minor)."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^7\\.[0-9]+$", var.redis_engine_version))
    error_message = "redis_engine_version: 7.x (the parameter group family is redis7)."
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type. Avoid burstable cache.t* for a production queue: out of CPU credits, Redis stalls every worker."
  type        = string
  default     = "cache.m6g.large"
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes (primary + replicas). 2 or more turns on Multi-AZ automatic failover."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_num_cache_clusters >= 1 && var.redis_num_cache_clusters <= 6
    error_message = "redis_num_cache_clusters: 1 to 6."
  }
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily Redis snapshots to keep (0 turns snapshots off)."
  type        = number
  default     = 7
}

variable "redis_snapshot_window" {
  description = "Daily UTC window of the Redis snapshot."
  type        = string
  default     = "00:00-01:00"
}

variable "redis_maintenance_window" {
  description = "Weekly UTC maintenance window of Redis."
  type        = string
  default     = "sat:04:00-sat:05:00"
}

# --- Load balancer ---------------------------------------------------------------------------------------------

variable "alb_ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.3 with 1.2 fallback by default)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
}

variable "alb_idle_timeout" {
  description = "Seconds an idle connection is kept; the dashboard's EventSource feed must send something more often than this."
  type        = number
  default     = 120
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer."
  type        = bool
  default     = true
}

variable "readonly_root_filesystem" {
  description = "Run containers with a read-only root filesystem; /tmp is a task-scoped writable volume. The image must declare VOLUME /tmp writable by its user (see docs/deployment.md)."
  type        = bool
  default     = true
}
