# Public entry point: one internet-facing ALB for every tenant host (<slug>.base_domain), the operator console
# (console.base_domain) and, later, verified custom domains. TLS ends here with an ACM certificate for
# base_domain and *.base_domain; HTTP only redirects. The application routes by Host header itself, so the
# load balancer needs a single target group.

resource "aws_acm_certificate" "main" {
  domain_name               = var.base_domain
  subject_alternative_names = ["*.${var.base_domain}"]
  validation_method         = "DNS"

  # A replaced certificate must be issued and attached before the old one is deleted, or the listener would
  # have none in between.
  lifecycle {
    create_before_destroy = true
  }

  tags = { Name = var.base_domain }
}

resource "aws_lb" "main" {
  name               = "${var.name_prefix}-alb"
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.alb.id]
  subnets            = aws_subnet.public[*].id

  # Malformed headers never reach the application (request smuggling protection).
  drop_invalid_header_fields = true
  idle_timeout               = var.alb_idle_timeout
  enable_deletion_protection = var.alb_deletion_protection
  enable_http2               = true

  tags = { Name = "${var.name_prefix}-alb" }
}

resource "aws_lb_target_group" "api" {
  name        = "${var.name_prefix}-api"
  port        = var.app_port
  protocol    = "HTTP"
  target_type = "ip" # Fargate tasks (awsvpc) register by IP
  vpc_id      = aws_vpc.main.id

  # Long enough for in-flight requests to finish after ECS deregisters a task and before it sends SIGTERM.
  deregistration_delay = 30

  # /readyz answers 200 only when every database cluster and Redis respond within 2 s, so a task that lost its
  # dependencies stops getting traffic. It is served before the tenant host gate, so the load balancer's Host
  # (the task IP) is fine. The thresholds tolerate about 100 s of failure before ECS replaces a task: an RDS
  # Multi-AZ failover (typically 60-120 s) should not restart the whole fleet at once. When every target is
  # unhealthy the ALB routes to all of them anyway (fail open).
  health_check {
    enabled             = true
    path                = "/readyz"
    protocol            = "HTTP"
    port                = "traffic-port"
    matcher             = "200"
    interval            = 20
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 5
  }

  tags = { Name = "${var.name_prefix}-api" }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.main.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.alb_ssl_policy
  # The validated certificate: the listener waits until ACM has issued it.
  certificate_arn = aws_acm_certificate_validation.main.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.api.arn
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.main.arn
  port              = 80
  protocol          = "HTTP"

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}
