# Redis for the Asynq job queue (one per region, design section 5). Queued jobs exist only here, so the
# configuration is about not losing them:
#
# * maxmemory-policy noeviction: when memory runs out, writes fail loudly instead of Redis silently evicting
#   queued tasks and leases. The worker refuses to start otherwise (it reads INFO, since ElastiCache blocks
#   CONFIG GET).
# * Persistence: ElastiCache does not allow AOF. AWS documents that AOF is not supported on Redis 2.8.22 and
#   later and is never enabled on Multi-AZ replication groups, so this group does not try to set `appendonly`.
#   What ElastiCache offers instead, and what this file uses: a replica in another AZ with automatic failover
#   (redis_num_cache_clusters >= 2) and daily RDB snapshots (snapshot_retention_limit). Replication is
#   asynchronous, so a primary failure can lose the last moment of enqueued jobs. Tasks carry their idempotency
#   key as Asynq TaskID, so re-enqueueing after a failover is safe; a tenant left in `provisioning` is resumed
#   with `brokerdesk tenants provision`. Where that is not enough, Amazon MemoryDB (durable multi-AZ
#   transaction log) is the alternative; see docs/deployment.md.
# * Encryption in transit (TLS: BD_REDIS_URL is rediss://) and at rest with the platform key, plus an AUTH token,
#   so reaching port 6379 is not enough to read or drain the queue.

resource "aws_elasticache_subnet_group" "main" {
  name        = "${var.name_prefix}-redis"
  description = "BrokerDesk Redis: data subnets only"
  subnet_ids  = aws_subnet.data[*].id
}

resource "aws_elasticache_parameter_group" "main" {
  name        = "${var.name_prefix}-redis7"
  family      = "redis7"
  description = "BrokerDesk job queue: never evict"

  parameter {
    name  = "maxmemory-policy"
    value = "noeviction"
  }
}

# ElastiCache AUTH tokens: 16-128 printable characters without '@', '"' or '/'. Alphanumeric only, because the
# token also sits in the userinfo of the rediss:// URL.
resource "random_password" "redis_auth" {
  length  = 64
  special = false
}

resource "aws_elasticache_replication_group" "main" {
  replication_group_id = "${var.name_prefix}-jobs"
  description          = "BrokerDesk job queue (Asynq)"

  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = 6379
  parameter_group_name = aws_elasticache_parameter_group.main.name

  # Cluster mode disabled: BD_REDIS_URL names one endpoint and the application opens a single-node client;
  # one queue fits comfortably in one node.
  num_cache_clusters         = var.redis_num_cache_clusters
  automatic_failover_enabled = var.redis_num_cache_clusters > 1
  multi_az_enabled           = var.redis_num_cache_clusters > 1
  preferred_cache_cluster_azs = [
    for i in range(var.redis_num_cache_clusters) : local.azs[i % length(local.azs)]
  ]

  subnet_group_name  = aws_elasticache_subnet_group.main.name
  security_group_ids = [aws_security_group.redis.id]

  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.platform.arn
  transit_encryption_enabled = true
  auth_token                 = random_password.redis_auth.result

  snapshot_retention_limit   = var.redis_snapshot_retention_days
  snapshot_window            = var.redis_snapshot_window
  maintenance_window         = var.redis_maintenance_window
  auto_minor_version_upgrade = true
  apply_immediately          = false

  # A last snapshot on deletion, so a mistaken destroy does not drop the queue with it.
  final_snapshot_identifier = "${var.name_prefix}-jobs-final"

  tags = { Name = "${var.name_prefix}-jobs" }
}
