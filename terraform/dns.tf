# DNS in the existing public hosted zone of base_domain: certificate validation records, and the wildcard that
# sends every tenant host and console.base_domain to the load balancer. A record for a specific name (say
# www.base_domain elsewhere) still wins over the wildcard, so the zone can keep other hosts.

# The apex and the wildcard validate with the same CNAME, so both instances write one record; allow_overwrite
# lets the second succeed instead of failing on "already exists". Keyed by the certificate's names, which are
# known from configuration, so the plan never depends on values ACM only returns after creating the
# certificate.
locals {
  certificate_names = toset([var.base_domain, "*.${var.base_domain}"])
}

resource "aws_route53_record" "certificate_validation" {
  for_each = local.certificate_names

  zone_id = var.hosted_zone_id
  name = one([
    for o in aws_acm_certificate.main.domain_validation_options : o.resource_record_name if o.domain_name == each.key
  ])
  type = one([
    for o in aws_acm_certificate.main.domain_validation_options : o.resource_record_type if o.domain_name == each.key
  ])
  records = [one([
    for o in aws_acm_certificate.main.domain_validation_options : o.resource_record_value if o.domain_name == each.key
  ])]
  ttl             = 300
  allow_overwrite = true
}

resource "aws_acm_certificate_validation" "main" {
  certificate_arn         = aws_acm_certificate.main.arn
  validation_record_fqdns = [for r in aws_route53_record.certificate_validation : r.fqdn]
}

resource "aws_route53_record" "wildcard" {
  zone_id = var.hosted_zone_id
  name    = "*.${var.base_domain}"
  type    = "A"

  # Alias, not CNAME: no extra lookup, no charge for the queries, and it follows the ALB's changing addresses.
  alias {
    name                   = aws_lb.main.dns_name
    zone_id                = aws_lb.main.zone_id
    evaluate_target_health = true
  }
}

resource "aws_route53_record" "apex" {
  count = var.create_apex_record ? 1 : 0

  zone_id = var.hosted_zone_id
  name    = var.base_domain
  type    = "A"

  alias {
    name                   = aws_lb.main.dns_name
    zone_id                = aws_lb.main.zone_id
    evaluate_target_health = true
  }
}
