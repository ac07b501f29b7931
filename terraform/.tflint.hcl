# tflint configuration. The terraform ruleset ships inside tflint; "all" adds naming, documentation and
# standard-layout checks to the recommended set. The AWS ruleset (invalid instance types and the like) is a
# separate plugin: enable it where `tflint --init` can download it:
#
#   plugin "aws" {
#     enabled = true
#     version = "0.40.0"
#     source  = "github.com/terraform-linters/tflint-ruleset-aws"
#   }
plugin "terraform" {
  enabled = true
  preset  = "all"
}
