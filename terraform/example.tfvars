# Example non-secret inputs. Copy to <environment>.tfvars (ignored by git) and adjust.
# Secrets are never put in a .tfvars file: export them for the apply instead, e.g.
#   export TF_VAR_smtp_password=...        (when smtp_username is set)
#   export TF_VAR_stripe_secret_key=...    (when stripe_enabled = true)

region         = "eu-west-1"
name_prefix    = "brokerdesk-prod"
environment    = "production"
base_domain    = "brokerdesk.app"
hosted_zone_id = "Z0123456789EXAMPLE"

image_repository = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/brokerdesk"
image_tag        = "3f9c2a1"

smtp_addr     = "email-smtp.eu-west-1.amazonaws.com:587"
smtp_from     = "BrokerDesk <no-reply@brokerdesk.app>"
smtp_username = "AKIAEXAMPLEEXAMPLE"

stripe_enabled = false

# Capacity
api_min_count        = 2
api_max_count        = 10
worker_desired_count = 2
db_instance_class    = "db.m6g.large"
db_allocated_storage = 100
db_multi_az          = true
redis_node_type      = "cache.m6g.large"

# Additional tenant clusters (BD_DATABASE_CLUSTERS): only ever increase.
tenant_cluster_count = 0
