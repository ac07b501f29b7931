# Three subnet tiers per AZ:
#   public  - the load balancer and the NAT gateways; the only tier with a route from the internet;
#   private - the ECS tasks; outbound through NAT (AWS APIs, SMTP, Stripe, trading servers), nothing inbound
#             except from the load balancer;
#   data    - RDS and ElastiCache; no route to or from the internet at all.
# The VPC is cut into 16 equal blocks (a /20 each from a /16): public use blocks 0-3, private 4-7, data 8-11,
# so adding an AZ later never renumbers an existing subnet.

resource "aws_vpc" "main" {
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true # RDS and ElastiCache endpoints are DNS names resolved inside the VPC

  tags = { Name = var.name_prefix }
}

# The default security group allows all traffic between its members; nothing should use it, so strip its rules.
resource "aws_default_security_group" "default" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${var.name_prefix}-default-unused" }
}

resource "aws_internet_gateway" "main" {
  vpc_id = aws_vpc.main.id

  tags = { Name = var.name_prefix }
}

resource "aws_subnet" "public" {
  count = var.az_count

  vpc_id            = aws_vpc.main.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, count.index)
  # Nothing in here needs a public IP of its own: the ALB and NAT gateways get theirs explicitly.
  map_public_ip_on_launch = false

  tags = { Name = "${var.name_prefix}-public-${local.azs[count.index]}", Tier = "public" }
}

resource "aws_subnet" "private" {
  count = var.az_count

  vpc_id            = aws_vpc.main.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, 4 + count.index)

  tags = { Name = "${var.name_prefix}-private-${local.azs[count.index]}", Tier = "private" }
}

resource "aws_subnet" "data" {
  count = var.az_count

  vpc_id            = aws_vpc.main.id
  availability_zone = local.azs[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 4, 8 + count.index)

  tags = { Name = "${var.name_prefix}-data-${local.azs[count.index]}", Tier = "data" }
}

# --- Routing ---------------------------------------------------------------------------------------------------

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.main.id

  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main.id
  }

  tags = { Name = "${var.name_prefix}-public" }
}

resource "aws_route_table_association" "public" {
  count = var.az_count

  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public.id
}

# One NAT gateway per AZ by default, so an AZ outage does not take the other AZs' egress (Secrets Manager at
# task start, SMTP, trading servers) with it. single_nat_gateway trades that for one gateway's cost.
locals {
  nat_count = var.single_nat_gateway ? 1 : var.az_count
}

resource "aws_eip" "nat" {
  count = local.nat_count

  domain = "vpc"

  tags = { Name = "${var.name_prefix}-nat-${local.azs[count.index]}" }
}

resource "aws_nat_gateway" "main" {
  count = local.nat_count

  allocation_id = aws_eip.nat[count.index].id
  subnet_id     = aws_subnet.public[count.index].id

  tags = { Name = "${var.name_prefix}-${local.azs[count.index]}" }

  depends_on = [aws_internet_gateway.main]
}

resource "aws_route_table" "private" {
  count = var.az_count

  vpc_id = aws_vpc.main.id

  route {
    cidr_block     = "0.0.0.0/0"
    nat_gateway_id = aws_nat_gateway.main[var.single_nat_gateway ? 0 : count.index].id
  }

  tags = { Name = "${var.name_prefix}-private-${local.azs[count.index]}" }
}

resource "aws_route_table_association" "private" {
  count = var.az_count

  subnet_id      = aws_subnet.private[count.index].id
  route_table_id = aws_route_table.private[count.index].id
}

# The data tier's table has only the implicit local route: RDS and Redis cannot reach or be reached from the
# internet even if a security group were opened by mistake.
resource "aws_route_table" "data" {
  vpc_id = aws_vpc.main.id

  tags = { Name = "${var.name_prefix}-data" }
}

resource "aws_route_table_association" "data" {
  count = var.az_count

  subnet_id      = aws_subnet.data[count.index].id
  route_table_id = aws_route_table.data.id
}

# S3 through a gateway endpoint: free, keeps document traffic and ECR image layers (served from S3) off the NAT
# gateways, which bill per GB.
resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.main.id
  service_name      = "com.amazonaws.${var.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = aws_route_table.private[*].id

  tags = { Name = "${var.name_prefix}-s3" }
}

# --- Security groups -------------------------------------------------------------------------------------------
# Rules are separate resources (aws_vpc_security_group_*_rule) so each one is named, described and changed on
# its own, and no inline rule set silently removes another.

resource "aws_security_group" "alb" {
  name        = "${var.name_prefix}-alb"
  description = "BrokerDesk load balancer: HTTPS and HTTP from anywhere, out only to the api tasks"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name_prefix}-alb" }
}

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet, only to be redirected to HTTPS"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Requests and health checks to the api tasks on the app port"
  referenced_security_group_id = aws_security_group.api.id
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
}

# Attached to the api tasks only: the one inbound path into the application.
resource "aws_security_group" "api" {
  name        = "${var.name_prefix}-api"
  description = "BrokerDesk api tasks: the app port from the load balancer only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name_prefix}-api" }
}

resource "aws_vpc_security_group_ingress_rule" "api_from_alb" {
  security_group_id            = aws_security_group.api.id
  description                  = "App port from the load balancer"
  referenced_security_group_id = aws_security_group.alb.id
  ip_protocol                  = "tcp"
  from_port                    = var.app_port
  to_port                      = var.app_port
}

# Attached to every task (api, worker, migrate): what the application may reach. The database and Redis groups
# admit this group and nothing else.
resource "aws_security_group" "app" {
  name        = "${var.name_prefix}-app"
  description = "BrokerDesk tasks: out to Postgres, Redis, HTTPS and SMTP"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name_prefix}-app" }
}

resource "aws_vpc_security_group_ingress_rule" "app_metrics" {
  for_each = toset(var.metrics_source_security_group_ids)

  security_group_id            = aws_security_group.app.id
  description                  = "Prometheus scrape of the internal listener"
  referenced_security_group_id = each.value
  ip_protocol                  = "tcp"
  from_port                    = var.internal_port
  to_port                      = var.internal_port
}

resource "aws_vpc_security_group_egress_rule" "app_to_db" {
  security_group_id            = aws_security_group.app.id
  description                  = "PostgreSQL"
  referenced_security_group_id = aws_security_group.db.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_vpc_security_group_egress_rule" "app_to_redis" {
  security_group_id            = aws_security_group.app.id
  description                  = "Redis"
  referenced_security_group_id = aws_security_group.redis.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}

# AWS APIs (Secrets Manager, ECR, CloudWatch Logs, S3, KMS), Stripe, and trading platforms' web APIs.
resource "aws_vpc_security_group_egress_rule" "app_https" {
  security_group_id = aws_security_group.app.id
  description       = "HTTPS: AWS APIs, Stripe, trading platform APIs"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}

resource "aws_vpc_security_group_egress_rule" "app_smtp" {
  count = local.smtp_port == 443 ? 0 : 1

  security_group_id = aws_security_group.app.id
  description       = "SMTP submission (BD_SMTP_ADDR)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = local.smtp_port
  to_port           = local.smtp_port
}

resource "aws_vpc_security_group_egress_rule" "app_extra" {
  for_each = toset([for p in var.app_egress_extra_ports : tostring(p)])

  security_group_id = aws_security_group.app.id
  description       = "Extra outbound port (trading server)"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.value)
  to_port           = tonumber(each.value)
}

resource "aws_security_group" "db" {
  name        = "${var.name_prefix}-db"
  description = "BrokerDesk PostgreSQL: 5432 from the application tasks only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name_prefix}-db" }
}

resource "aws_vpc_security_group_ingress_rule" "db_from_app" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the application tasks"
  referenced_security_group_id = aws_security_group.app.id
  ip_protocol                  = "tcp"
  from_port                    = 5432
  to_port                      = 5432
}

resource "aws_security_group" "redis" {
  name        = "${var.name_prefix}-redis"
  description = "BrokerDesk Redis: 6379 from the application tasks only"
  vpc_id      = aws_vpc.main.id

  tags = { Name = "${var.name_prefix}-redis" }
}

resource "aws_vpc_security_group_ingress_rule" "redis_from_app" {
  security_group_id            = aws_security_group.redis.id
  description                  = "Redis from the application tasks"
  referenced_security_group_id = aws_security_group.app.id
  ip_protocol                  = "tcp"
  from_port                    = 6379
  to_port                      = 6379
}
