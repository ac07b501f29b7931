# One image, three uses (docs/operations.md, Processes):
#   api     - `brokerdesk serve` behind the load balancer, autoscaled on CPU;
#   worker  - `brokerdesk worker`, a fixed count (Asynq spreads jobs over them);
#   migrate - a task definition only, run by hand or by the release pipeline: `brokerdesk migrate` by default,
#             or any `brokerdesk tenants ...` command through a command override.
# All run on Fargate in the private subnets, without public IPs.

resource "aws_ecs_cluster" "main" {
  name = var.name_prefix

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }
}

# Logs: JSON lines on stderr, one group per process, encrypted with the platform key. The group names match the
# encryption-context condition in kms.tf.
resource "aws_cloudwatch_log_group" "api" {
  name              = "/ecs/${var.name_prefix}/api"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_cloudwatch_log_group" "worker" {
  name              = "/ecs/${var.name_prefix}/worker"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

resource "aws_cloudwatch_log_group" "ops" {
  name              = "/ecs/${var.name_prefix}/migrate"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.platform.arn
}

locals {
  # The internal listener (/metrics) is reachable only from the scraper security groups; without any, it binds
  # to loopback so nothing outside the task can reach it even by mistake.
  internal_host = length(var.metrics_source_security_group_ids) > 0 ? "0.0.0.0" : "127.0.0.1"

  # Non-secret configuration, the same for every process (README, Configuration). Secrets: secrets.tf.
  app_environment = merge(
    {
      BD_HTTP_ADDR           = ":${var.app_port}"
      BD_INTERNAL_ADDR       = "${local.internal_host}:${var.internal_port}"
      BD_BASE_DOMAIN         = var.base_domain
      BD_PUBLIC_SCHEME       = "https"
      BD_SMTP_ADDR           = var.smtp_addr
      BD_SMTP_FROM           = var.smtp_from
      BD_DATABASE_MAX_CONNS  = tostring(var.database_max_conns)
      BD_LOG_LEVEL           = var.log_level
      BD_WORKER_CONCURRENCY  = tostring(var.worker_concurrency)
      BD_MIGRATE_CONCURRENCY = tostring(var.migrate_concurrency)
      BD_SHUTDOWN_TIMEOUT    = "${var.shutdown_timeout_seconds}s"
      # The ALB's nodes live in the public subnets: only their X-Forwarded-For names the client (rate limits per
      # address and the audit trail's IP depend on it; without it every request would come from the ALB).
      BD_TRUSTED_PROXIES = join(",", aws_subnet.public[*].cidr_block)
      # Container storage is ephemeral: a `tenants delete` export written here is lost when the task stops,
      # so that command is not run as an ECS task for now (docs/deployment.md, Known gaps).
      BD_EXPORT_DIR = "/tmp/exports"

      # KYC documents (docs/documents.md): the S3 blob store on the documents bucket, every object SSE-KMS under
      # the documents key (the same key the bucket policy insists on). Credentials come from the task role
      # through the AWS default chain, never from BD_S3_ACCESS_KEY/BD_S3_SECRET_KEY (those are for MinIO in
      # development). BD_UPLOAD_MAX_MB keeps its default (15).
      BD_BLOB_STORE    = "s3"
      BD_S3_BUCKET     = aws_s3_bucket.documents.bucket
      BD_S3_REGION     = var.region
      BD_S3_KMS_KEY_ID = aws_kms_key.documents.arn
      AWS_REGION       = var.region
    },
    var.smtp_username != "" ? { BD_SMTP_USERNAME = var.smtp_username } : {},
  )

  # Secrets are read once, at task start. This value changes whenever a secret's content does (for example a
  # new tenant cluster in BD_DATABASE_CLUSTERS), which changes the task definitions and so rolls the services
  # onto the new values; the application ignores the variable.
  secrets_revision = sha256(join(",", concat(
    [
      aws_secretsmanager_secret_version.database_url.version_id, aws_secretsmanager_secret_version.redis_url.version_id,
      aws_secretsmanager_secret_version.jwt_keys.version_id, aws_secretsmanager_secret_version.data_keys.version_id,
    ],
    aws_secretsmanager_secret_version.database_clusters[*].version_id,
    aws_secretsmanager_secret_version.smtp_password[*].version_id,
    aws_secretsmanager_secret_version.stripe_secret_key[*].version_id,
  )))

  # ECS gives a container stopTimeout seconds between SIGTERM and SIGKILL: the application's own shutdown
  # budget plus a margin for closing pools and flushing logs.
  stop_timeout = var.shutdown_timeout_seconds + 15

  # One Go scheduler thread per whole vCPU of the task, at least one. Go's own default never goes below 2, and
  # with a task of less than two vCPUs two busy threads spend the task's CPU quota early in each period and then
  # wait out the rest of it (throttling shows as tail latency); one thread also skips the cross-thread wake-ups
  # that cost a server this small about 10% of its requests per CPU (docs/benchmarks.md).
  gomaxprocs = {
    api    = tostring(max(1, floor(var.api_cpu / 1024)))
    worker = tostring(max(1, floor(var.worker_cpu / 1024)))
  }

  # Parts of a container definition shared by every process.
  container_base = {
    essential              = true
    entryPoint             = var.container_entrypoint
    readonlyRootFilesystem = var.readonly_root_filesystem
    stopTimeout            = local.stop_timeout
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    # PID 1 forwards SIGTERM and reaps children, whatever the image's entrypoint.
    linuxParameters = { initProcessEnabled = true }
    environment = [
      for k, v in merge(local.app_environment, { SECRETS_REVISION = local.secrets_revision }) : { name = k, value = v }
    ]
  }
}

resource "aws_ecs_task_definition" "api" {
  family                   = "${var.name_prefix}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.api_cpu)
  memory                   = tostring(var.api_memory)
  execution_role_arn       = aws_iam_role.execution["service"].arn
  task_role_arn            = aws_iam_role.service_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([merge(local.container_base, {
    name    = "api"
    image   = local.image
    command = ["serve"]
    # The API's live heap is small (tens of MiB) and its task has memory to spare: collecting less often (GOGC)
    # is worth about 5% more requests per CPU (docs/benchmarks.md), and GOMEMLIMIT makes the collector work harder
    # before the task would reach its memory limit. GOMAXPROCS: see local.gomaxprocs.
    environment = [
      for k, v in merge(local.app_environment, {
        SECRETS_REVISION = local.secrets_revision
        GOGC             = "400"
        GOMEMLIMIT       = "${floor(var.api_memory * 0.8)}MiB"
        GOMAXPROCS       = local.gomaxprocs.api
      }) : { name = k, value = v }
    ]
    portMappings = concat(
      [{ containerPort = var.app_port, protocol = "tcp" }],
      length(var.metrics_source_security_group_ids) > 0 ? [{ containerPort = var.internal_port, protocol = "tcp" }] : [],
    )
    secrets = [for k, arn in local.service_secrets : { name = k, valueFrom = arn }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.api.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "api"
      }
    }
  })])
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name_prefix}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.worker_cpu)
  memory                   = tostring(var.worker_memory)
  execution_role_arn       = aws_iam_role.execution["service"].arn
  task_role_arn            = aws_iam_role.service_task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([merge(local.container_base, {
    name    = "worker"
    image   = local.image
    command = ["worker"]
    environment = [
      for k, v in merge(local.app_environment, {
        SECRETS_REVISION = local.secrets_revision
        GOMAXPROCS       = local.gomaxprocs.worker
      }) : { name = k, value = v }
    ]
    secrets = [for k, arn in local.service_secrets : { name = k, valueFrom = arn }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.worker.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "worker"
      }
    }
  })])
}

# The one-off task. Its image tag can run ahead of the services' (migrate_image_tag) so a release migrates
# first and rolls the services second. No task role: it needs no AWS API at run time.
resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name_prefix}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.migrate_cpu)
  memory                   = tostring(var.migrate_memory)
  execution_role_arn       = aws_iam_role.execution["ops"].arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([merge(local.container_base, {
    name    = "migrate"
    image   = local.migrate_image
    command = ["migrate"]
    secrets = [for k, arn in local.ops_secrets : { name = k, valueFrom = arn }]
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.ops.name
        awslogs-region        = var.region
        awslogs-stream-prefix = "migrate"
      }
    }
  })])
}

# --- Services --------------------------------------------------------------------------------------------------
# Created only when services_enabled: the very first apply leaves them out so the schema can be migrated before
# anything serves (docs/deployment.md, First deploy).

resource "aws_ecs_service" "api" {
  count = var.services_enabled ? 1 : 0

  name             = "api"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.api.arn
  desired_count    = var.api_desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.app.id, aws_security_group.api.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.api.arn
    container_name   = "api"
    container_port   = var.app_port
  }

  # A new task gets this long to pass /readyz (pools, Redis, first health checks) before ECS judges it.
  health_check_grace_period_seconds = 60

  # Rolling deploy: start the new tasks before stopping old ones; a release that never becomes healthy rolls
  # back by itself instead of replacing the whole fleet with broken tasks.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true

  # Autoscaling owns the running count once the service exists.
  lifecycle {
    ignore_changes = [desired_count]
  }

  # The target group must belong to a load balancer (through the listener) before a service can use it.
  depends_on = [aws_lb_listener.https]
}

resource "aws_ecs_service" "worker" {
  count = var.services_enabled ? 1 : 0

  name             = "worker"
  cluster          = aws_ecs_cluster.main.id
  task_definition  = aws_ecs_task_definition.worker.arn
  desired_count    = var.worker_desired_count
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.app.id]
    assign_public_ip = false
  }

  # Workers return unfinished tasks to Redis on SIGTERM, so overlapping old and new workers is harmless.
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true
}

# --- api autoscaling on CPU ------------------------------------------------------------------------------------

resource "aws_appautoscaling_target" "api" {
  count = var.services_enabled ? 1 : 0

  service_namespace  = "ecs"
  resource_id        = "service/${aws_ecs_cluster.main.name}/${aws_ecs_service.api[0].name}"
  scalable_dimension = "ecs:service:DesiredCount"
  min_capacity       = var.api_min_count
  max_capacity       = var.api_max_count
}

resource "aws_appautoscaling_policy" "api_cpu" {
  count = var.services_enabled ? 1 : 0

  name               = "${var.name_prefix}-api-cpu"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.api[0].service_namespace
  resource_id        = aws_appautoscaling_target.api[0].resource_id
  scalable_dimension = aws_appautoscaling_target.api[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value = var.api_cpu_target

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }

    # Scale out fast on a rush (market open, a marketing push), scale in slowly to avoid flapping.
    scale_out_cooldown = 60
    scale_in_cooldown  = 300
  }
}
