# What an operator or a release pipeline needs after apply. No secret values: the secrets' ARNs are here,
# their contents only in Secrets Manager (and the encrypted state).

output "load_balancer_dns_name" {
  description = "DNS name of the load balancer (the wildcard record points here)."
  value       = aws_lb.main.dns_name
}

output "tenant_url_pattern" {
  description = "Where tenants are served."
  value       = "https://<slug>.${var.base_domain}/"
}

output "console_url" {
  description = "The operator console host."
  value       = "https://console.${var.base_domain}/"
}

output "certificate_arn" {
  description = "ACM certificate for base_domain and *.base_domain."
  value       = aws_acm_certificate.main.arn
}

output "ecs_cluster_name" {
  description = "ECS cluster of the api, worker and migrate tasks."
  value       = aws_ecs_cluster.main.name
}

output "api_service_name" {
  description = "ECS service running `brokerdesk serve` (null until services_enabled)."
  value       = try(aws_ecs_service.api[0].name, null)
}

output "worker_service_name" {
  description = "ECS service running `brokerdesk worker` (null until services_enabled)."
  value       = try(aws_ecs_service.worker[0].name, null)
}

output "migrate_task_definition_arn" {
  description = "Task definition of the one-off `brokerdesk migrate` / `brokerdesk tenants ...` task."
  value       = aws_ecs_task_definition.migrate.arn
}

output "private_subnet_ids" {
  description = "Subnets for one-off tasks."
  value       = aws_subnet.private[*].id
}

output "app_security_group_id" {
  description = "Security group for one-off tasks (reaches Postgres, Redis, HTTPS and SMTP)."
  value       = aws_security_group.app.id
}

# Ready to paste: runs the migrate task and prints its task ARN. For a tenants command, add
#   --overrides '{"containerOverrides":[{"name":"migrate","command":["tenants","list"]}]}'
output "migrate_run_task_command" {
  description = "AWS CLI command that runs `brokerdesk migrate` once in the private subnets."
  value = join(" ", [
    "aws ecs run-task",
    "--region ${var.region}",
    "--cluster ${aws_ecs_cluster.main.name}",
    "--task-definition ${aws_ecs_task_definition.migrate.family}:${aws_ecs_task_definition.migrate.revision}",
    "--launch-type FARGATE",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", aws_subnet.private[*].id)}],securityGroups=[${aws_security_group.app.id}],assignPublicIp=DISABLED}'",
    "--query 'tasks[0].taskArn' --output text",
  ])
}

output "migrate_log_group" {
  description = "CloudWatch log group of the migrate/tenants task."
  value       = aws_cloudwatch_log_group.ops.name
}

output "database_clusters" {
  description = "Database clusters by BrokerDesk cluster name: RDS identifier and endpoint."
  value = merge(
    { main = { identifier = aws_db_instance.main.identifier, address = aws_db_instance.main.address } },
    { for i, name in local.tenant_clusters : name => {
      identifier = aws_db_instance.tenant[i].identifier
      address    = aws_db_instance.tenant[i].address
    } },
  )
}

output "redis_primary_endpoint" {
  description = "ElastiCache primary endpoint (TLS, AUTH token in the BD_REDIS_URL secret)."
  value       = aws_elasticache_replication_group.main.primary_endpoint_address
}

output "documents_bucket" {
  description = "S3 bucket of KYC documents and logos."
  value       = aws_s3_bucket.documents.bucket
}

output "documents_kms_key_arn" {
  description = "Customer-managed KMS key of the documents bucket."
  value       = aws_kms_key.documents.arn
}

output "platform_kms_key_arn" {
  description = "Customer-managed KMS key of RDS, ElastiCache, secrets and logs."
  value       = aws_kms_key.platform.arn
}

output "secret_arns" {
  description = "Secrets Manager ARNs by the environment variable they become."
  value       = local.service_secrets
}

output "vpc_id" {
  description = "The deployment's VPC."
  value       = aws_vpc.main.id
}
