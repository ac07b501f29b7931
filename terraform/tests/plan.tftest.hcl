# Plan-level tests with mocked providers: no AWS account, credentials or network beyond `terraform init`
# (which downloads the aws and random providers for their schemas). They evaluate every expression, count and
# variable validation, and check the wiring the application depends on.
#
#   cd terraform && terraform init -backend=false && terraform test
#
# mock_provider fills computed attributes (ARNs, endpoints) with placeholders; the few that the configuration
# parses or indexes are given realistic values below.

mock_provider "random" {
  mock_resource "random_password" {
    defaults = {
      result = "XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"
    }
  }
}

mock_provider "aws" {
  mock_data "aws_availability_zones" {
    defaults = {
      names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    }
  }
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "111122223333"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{}"
    }
  }
  mock_resource "aws_acm_certificate" {
    defaults = {
      arn = "arn:aws:acm:eu-west-1:111122223333:certificate/abc"
      domain_validation_options = [
        { domain_name = "brokerdesk.example", resource_record_name = "_x.brokerdesk.example.", resource_record_type = "CNAME", resource_record_value = "_y.acm-validations.aws." },
        { domain_name = "*.brokerdesk.example", resource_record_name = "_x.brokerdesk.example.", resource_record_type = "CNAME", resource_record_value = "_y.acm-validations.aws." },
      ]
    }
  }
  mock_resource "aws_kms_key" {
    defaults = {
      arn = "arn:aws:kms:eu-west-1:111122223333:key/abc"
    }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = {
      arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:x"
    }
  }
  mock_resource "aws_s3_bucket" {
    defaults = {
      arn = "arn:aws:s3:::bucket"
    }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-1:111122223333:log-group:x"
    }
  }
  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::111122223333:role/x"
    }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = {
      arn = "arn:aws:ecs:eu-west-1:111122223333:task-definition/x:1"
    }
  }
  mock_resource "aws_lb_target_group" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:targetgroup/x/1"
    }
  }
  mock_resource "aws_lb" {
    defaults = {
      arn = "arn:aws:elasticloadbalancing:eu-west-1:111122223333:loadbalancer/app/x/1"
    }
  }
  mock_resource "aws_acm_certificate_validation" {
    defaults = {
      certificate_arn = "arn:aws:acm:eu-west-1:111122223333:certificate/abc"
    }
  }
}

variables {
  region           = "eu-west-1"
  name_prefix      = "bd-test"
  base_domain      = "brokerdesk.example"
  hosted_zone_id   = "Z123"
  image_repository = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/brokerdesk"
  image_tag        = "abc123"
  smtp_addr        = "email-smtp.eu-west-1.amazonaws.com:587"
  smtp_from        = "BrokerDesk <no-reply@brokerdesk.example>"
}

run "defaults" {
  command = apply

  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private) == 2 && length(aws_subnet.data) == 2 && length(aws_nat_gateway.main) == 2
    error_message = "Default layout: three subnet tiers over two AZs, one NAT gateway per AZ."
  }
  assert {
    condition     = local.ecr_repository_arn == "arn:aws:ecr:eu-west-1:111122223333:repository/brokerdesk"
    error_message = "An ECR image_repository must give the execution role pull rights on exactly that repository."
  }
  assert {
    condition = (
      local.app_environment["BD_INTERNAL_ADDR"] == "127.0.0.1:9090" &&
      local.app_environment["BD_HTTP_ADDR"] == ":8080" &&
      local.app_environment["BD_PUBLIC_SCHEME"] == "https" &&
      local.app_environment["BD_BASE_DOMAIN"] == "brokerdesk.example" &&
      local.app_environment["BD_SHUTDOWN_TIMEOUT"] == "20s"
    )
    error_message = "Non-secret BD_* environment is wrong."
  }
  assert {
    condition     = !contains(keys(local.service_secrets), "BD_DATABASE_CLUSTERS") && length(aws_ecs_service.api) == 1 && length(aws_ecs_service.worker) == 1
    error_message = "Without tenant clusters there is no BD_DATABASE_CLUSTERS secret; services exist by default."
  }
  assert {
    condition = (
      jsondecode(aws_ecs_task_definition.api.container_definitions)[0].command == ["serve"] &&
      jsondecode(aws_ecs_task_definition.worker.container_definitions)[0].command == ["worker"] &&
      jsondecode(aws_ecs_task_definition.migrate.container_definitions)[0].command == ["migrate"]
    )
    error_message = "The three task definitions must run serve, worker and migrate."
  }
  assert {
    condition = (
      !contains([for e in jsondecode(aws_ecs_task_definition.api.container_definitions)[0].environment : e.name], "BD_REDIS_URL") &&
      !contains([for e in jsondecode(aws_ecs_task_definition.api.container_definitions)[0].environment : e.name], "BD_DATABASE_URL") &&
      contains([for e in jsondecode(aws_ecs_task_definition.api.container_definitions)[0].secrets : e.name], "BD_REDIS_URL") &&
      contains([for e in jsondecode(aws_ecs_task_definition.api.container_definitions)[0].secrets : e.name], "BD_DATABASE_URL")
    )
    error_message = "URLs with passwords must be injected as secrets, never as plain environment."
  }
  assert {
    condition     = startswith(nonsensitive(local.redis_url), "rediss://:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX@")
    error_message = "BD_REDIS_URL must be rediss:// with the AUTH token."
  }
  assert {
    condition     = startswith(nonsensitive(local.db_main_url), "postgres://brokerdesk:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX@") && endswith(nonsensitive(local.db_main_url), "/brokerdesk?sslmode=require")
    error_message = "BD_DATABASE_URL must carry the generated password and require TLS."
  }
  assert {
    condition     = aws_lb_target_group.api.health_check[0].path == "/readyz" && aws_lb_target_group.api.port == 8080
    error_message = "The api target group must probe /readyz on the app port."
  }
  assert {
    condition     = aws_lb_listener.http.default_action[0].type == "redirect" && aws_lb_listener.http.default_action[0].redirect[0].protocol == "HTTPS"
    error_message = "HTTP must only redirect to HTTPS."
  }
  assert {
    condition     = aws_acm_certificate.main.domain_name == "brokerdesk.example" && contains(aws_acm_certificate.main.subject_alternative_names, "*.brokerdesk.example")
    error_message = "The certificate must cover base_domain and *.base_domain."
  }
  assert {
    condition     = aws_db_instance.main.publicly_accessible == false && aws_db_instance.main.storage_encrypted && aws_db_instance.main.deletion_protection
    error_message = "The database must be private, encrypted and protected from deletion."
  }
}

run "clusters_smtp_stripe" {
  command = apply

  variables {
    tenant_cluster_count              = 2
    smtp_username                     = "AKIAEXAMPLE"
    smtp_password                     = "example-password"
    stripe_enabled                    = true
    stripe_secret_key                 = "sk_test_example"
    single_nat_gateway                = true
    az_count                          = 3
    services_enabled                  = false
    metrics_source_security_group_ids = ["sg-0123456789abcdef0"]
    image_repository                  = "ghcr.io/brokerdesk/brokerdesk"
  }

  assert {
    condition     = length(aws_db_instance.tenant) == 2 && aws_db_instance.tenant[1].identifier == "bd-test-tenants-2"
    error_message = "tenant_cluster_count = 2 must create tenants-1 and tenants-2."
  }
  assert {
    condition     = length(split(";", nonsensitive(local.db_clusters_value))) == 2 && startswith(nonsensitive(local.db_clusters_value), "tenants-1=postgres://brokerdesk:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX@")
    error_message = "BD_DATABASE_CLUSTERS must be name=URL pairs joined by ';'."
  }
  assert {
    condition     = length(aws_nat_gateway.main) == 1 && length(aws_route_table.private) == 3
    error_message = "single_nat_gateway: one gateway shared by every private route table."
  }
  assert {
    condition = (
      contains(keys(local.service_secrets), "BD_DATABASE_CLUSTERS") &&
      contains(keys(local.service_secrets), "BD_STRIPE_SECRET_KEY") &&
      !contains(keys(local.ops_secrets), "BD_STRIPE_SECRET_KEY") &&
      contains(keys(local.ops_secrets), "BD_SMTP_PASSWORD") &&
      local.app_environment["BD_SMTP_USERNAME"] == "AKIAEXAMPLE"
    )
    error_message = "Secret sets per task kind are wrong."
  }
  assert {
    condition     = length(aws_ecs_service.api) == 0 && length(aws_appautoscaling_target.api) == 0 && local.ecr_repository_arn == null
    error_message = "services_enabled = false leaves the services out; a non-ECR image gets no ECR pull statement."
  }
  assert {
    condition     = local.app_environment["BD_INTERNAL_ADDR"] == "0.0.0.0:9090" && length(aws_vpc_security_group_ingress_rule.app_metrics) == 1
    error_message = "With a scraper security group the internal listener binds to all interfaces and admits only that group."
  }
}

run "smtp_username_needs_password" {
  command = plan

  variables {
    smtp_username = "user"
  }

  expect_failures = [var.smtp_password]
}

run "stripe_needs_key" {
  command = plan

  variables {
    stripe_enabled = true
  }

  expect_failures = [var.stripe_secret_key]
}
