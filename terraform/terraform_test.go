// Package terraform_test checks the AWS deployment in this folder without touching AWS: the files are
// formatted as `terraform fmt` wants (when terraform is installed), and the promises the design makes about
// data at rest hold in the text of the configuration: the documents bucket is private and encrypted with a
// customer-managed KMS key, and the job-queue Redis never evicts.
//
// The .tf files are read as text with a small brace matcher, not a full HCL parser, because the module may
// only use the standard library. The matcher understands what these files use: blocks, quoted strings,
// heredoc-free attributes and # or // comments.
package terraform_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestFormatted runs `terraform fmt -check -recursive` on this folder.
func TestFormatted(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not on PATH: skipping `terraform fmt -check -recursive` (install Terraform >= 1.11 to run it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "fmt", "-check", "-recursive", "-diff", "-no-color", ".")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("terraform fmt -check -recursive: %v (run `terraform fmt -recursive terraform` to fix)\n%s", err, out.String())
	}
}

// TestConfiguration checks the real files.
func TestConfiguration(t *testing.T) {
	t.Parallel()
	cfg := loadConfig(t, ".")
	for _, check := range checks {
		if problems := check.fn(cfg); len(problems) > 0 {
			t.Errorf("%s:\n  %s", check.name, strings.Join(problems, "\n  "))
		}
	}
}

// TestChecksCatchRemovals proves each check is real: the same files, with one protection removed or weakened,
// must make that check fail.
func TestChecksCatchRemovals(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file, old, new, check string
	}{
		{"public ACLs allowed", "s3.tf", "block_public_acls       = true", "block_public_acls       = false", "documents bucket blocks public access"},
		{"public policy line removed", "s3.tf", "restrict_public_buckets = true", "", "documents bucket blocks public access"},
		{"public access block removed", "s3.tf", `resource "aws_s3_bucket_public_access_block" "documents"`, `resource "aws_s3_bucket_ownership_controls" "other"`, "documents bucket blocks public access"},
		{"SSE-S3 instead of SSE-KMS", "s3.tf", `sse_algorithm     = "aws:kms"`, `sse_algorithm     = "AES256"`, "documents bucket uses SSE-KMS with a customer-managed key"},
		{"AWS-managed key", "s3.tf", "kms_master_key_id = aws_kms_key.documents.arn", `kms_master_key_id = "alias/aws/s3"`, "documents bucket uses SSE-KMS with a customer-managed key"},
		{"key rotation off", "kms.tf", "enable_key_rotation     = true\n  deletion_window_in_days = var.kms_deletion_window_days\n  policy                  = data.aws_iam_policy_document.documents_key.json", "enable_key_rotation     = false\n  deletion_window_in_days = var.kms_deletion_window_days\n  policy                  = data.aws_iam_policy_document.documents_key.json", "documents bucket uses SSE-KMS with a customer-managed key"},
		{"evicting Redis", "redis.tf", `value = "noeviction"`, `value = "volatile-lru"`, "Redis parameter group sets noeviction"},
		{"parameter group not used", "redis.tf", "parameter_group_name = aws_elasticache_parameter_group.main.name", `parameter_group_name = "default.redis7"`, "Redis parameter group sets noeviction"},
		{"Redis without TLS", "redis.tf", "transit_encryption_enabled = true", "transit_encryption_enabled = false", "Redis encrypts in transit and at rest"},
		{"public database", "rds.tf", "publicly_accessible    = false\n  backup_retention_period   = var.db_backup_retention_days", "publicly_accessible    = true\n  backup_retention_period   = var.db_backup_retention_days", "databases are private and encrypted"},
		{"task role on every bucket", "iam.tf", `resources = ["${aws_s3_bucket.documents.arn}/*"]`, `resources = ["arn:aws:s3:::*/*"]`, "service task role reaches only the documents bucket and key"},
		{"task role with s3:*", "iam.tf", `"s3:DeleteObjectVersion",`, `"s3:*",`, "service task role reaches only the documents bucket and key"},
		{"task role on any key", "iam.tf", "resources = [aws_kms_key.documents.arn]\n\n    condition {\n      test     = \"StringEquals\"\n      variable = \"kms:ViaService\"\n      values   = [\"s3.", "resources = [\"*\"]\n\n    condition {\n      test     = \"StringEquals\"\n      variable = \"kms:ViaService\"\n      values   = [\"s3.", "service task role reaches only the documents bucket and key"},
		{"literal password", "rds.tf", "password = random_password.db_main.result", `password = "hunter2hunter2"`, "no secret is a literal"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			copyTF(t, ".", dir)
			path := filepath.Join(dir, c.file)
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Compare on whitespace-normalized text so the mutation does not depend on fmt's alignment.
			mutated, ok := replaceLoose(string(src), c.old, c.new)
			if !ok {
				t.Fatalf("%s no longer contains %q: update this test along with the configuration", c.file, c.old)
			}
			if err := os.WriteFile(path, []byte(mutated), 0o644); err != nil {
				t.Fatal(err)
			}
			cfg := loadConfig(t, dir)
			for _, check := range checks {
				if check.name != c.check {
					continue
				}
				if problems := check.fn(cfg); len(problems) == 0 {
					t.Fatalf("check %q still passes after: %s", c.check, c.name)
				}
				return
			}
			t.Fatalf("no check named %q", c.check)
		})
	}
}

var checks = []struct {
	name string
	fn   func(config) []string
}{
	{"documents bucket blocks public access", checkPublicAccessBlock},
	{"documents bucket uses SSE-KMS with a customer-managed key", checkBucketEncryption},
	{"Redis parameter group sets noeviction", checkNoEviction},
	{"Redis encrypts in transit and at rest", checkRedisEncryption},
	{"databases are private and encrypted", checkDatabases},
	{"no secret is a literal", checkNoLiteralSecrets},
	{"service task role reaches only the documents bucket and key", checkServiceTaskRole},
}

func checkPublicAccessBlock(cfg config) []string {
	bucket := cfg.one("aws_s3_bucket", "documents")
	if bucket == nil {
		return []string{`resource "aws_s3_bucket" "documents" not found`}
	}
	var problems []string
	found := false
	for _, b := range cfg.ofType("aws_s3_bucket_public_access_block") {
		if b.attr("bucket") != "aws_s3_bucket.documents.id" {
			continue
		}
		found = true
		for _, key := range []string{"block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets"} {
			if v := b.attr(key); v != "true" {
				problems = append(problems, b.String()+": "+key+" = "+orMissing(v)+", want true")
			}
		}
	}
	if !found {
		problems = append(problems, "no aws_s3_bucket_public_access_block with bucket = aws_s3_bucket.documents.id")
	}
	return problems
}

func checkBucketEncryption(cfg config) []string {
	var problems []string
	found := false
	for _, b := range cfg.ofType("aws_s3_bucket_server_side_encryption_configuration") {
		if b.attr("bucket") != "aws_s3_bucket.documents.id" {
			continue
		}
		found = true
		rules := b.blocks("rule")
		if len(rules) == 0 {
			problems = append(problems, b.String()+": no rule block")
		}
		for _, rule := range rules {
			defaults := rule.blocks("apply_server_side_encryption_by_default")
			if len(defaults) != 1 {
				problems = append(problems, b.String()+": want one apply_server_side_encryption_by_default block")
				continue
			}
			d := defaults[0]
			if v := d.attr("sse_algorithm"); v != `"aws:kms"` {
				problems = append(problems, b.String()+": sse_algorithm = "+orMissing(v)+`, want "aws:kms"`)
			}
			// A customer-managed key declared in this configuration, with rotation on.
			key := regexp.MustCompile(`^aws_kms_key\.([A-Za-z0-9_-]+)\.(arn|key_id|id)$`).FindStringSubmatch(d.attr("kms_master_key_id"))
			if key == nil {
				problems = append(problems, b.String()+": kms_master_key_id = "+orMissing(d.attr("kms_master_key_id"))+", want a reference to an aws_kms_key of this configuration")
				continue
			}
			k := cfg.one("aws_kms_key", key[1])
			switch {
			case k == nil:
				problems = append(problems, "aws_kms_key."+key[1]+" not found")
			case k.attr("enable_key_rotation") != "true":
				problems = append(problems, k.String()+": enable_key_rotation = "+orMissing(k.attr("enable_key_rotation"))+", want true")
			}
		}
	}
	if !found {
		problems = append(problems, "no aws_s3_bucket_server_side_encryption_configuration with bucket = aws_s3_bucket.documents.id")
	}
	return problems
}

func checkNoEviction(cfg config) []string {
	groups := cfg.ofType("aws_elasticache_replication_group")
	if len(groups) == 0 {
		return []string{"no aws_elasticache_replication_group"}
	}
	var problems []string
	for _, g := range groups {
		ref := regexp.MustCompile(`^aws_elasticache_parameter_group\.([A-Za-z0-9_-]+)\.(name|id)$`).FindStringSubmatch(g.attr("parameter_group_name"))
		if ref == nil {
			problems = append(problems, g.String()+": parameter_group_name = "+orMissing(g.attr("parameter_group_name"))+", want this configuration's aws_elasticache_parameter_group")
			continue
		}
		pg := cfg.one("aws_elasticache_parameter_group", ref[1])
		if pg == nil {
			problems = append(problems, "aws_elasticache_parameter_group."+ref[1]+" not found")
			continue
		}
		policy := ""
		for _, p := range pg.blocks("parameter") {
			if p.attr("name") == `"maxmemory-policy"` {
				policy = p.attr("value")
			}
		}
		if policy != `"noeviction"` {
			problems = append(problems, pg.String()+`: maxmemory-policy = `+orMissing(policy)+`, want "noeviction"`)
		}
	}
	return problems
}

func checkRedisEncryption(cfg config) []string {
	var problems []string
	for _, g := range cfg.ofType("aws_elasticache_replication_group") {
		for _, key := range []string{"transit_encryption_enabled", "at_rest_encryption_enabled"} {
			if v := g.attr(key); v != "true" {
				problems = append(problems, g.String()+": "+key+" = "+orMissing(v)+", want true")
			}
		}
		if g.attr("auth_token") == "" {
			problems = append(problems, g.String()+": no auth_token")
		}
	}
	return problems
}

func checkDatabases(cfg config) []string {
	dbs := cfg.ofType("aws_db_instance")
	if len(dbs) == 0 {
		return []string{"no aws_db_instance"}
	}
	var problems []string
	for _, db := range dbs {
		want := map[string]string{"publicly_accessible": "false", "storage_encrypted": "true", "skip_final_snapshot": "false"}
		for key, v := range want {
			if got := db.attr(key); got != v {
				problems = append(problems, db.String()+": "+key+" = "+orMissing(got)+", want "+v)
			}
		}
		if !strings.HasPrefix(db.attr("kms_key_id"), "aws_kms_key.") {
			problems = append(problems, db.String()+": kms_key_id is not a customer-managed key of this configuration")
		}
	}
	sort.Strings(problems)
	return problems
}

// Attributes that carry secrets must come from generated values or sensitive variables, never string literals.
func checkNoLiteralSecrets(cfg config) []string {
	secretAttr := regexp.MustCompile(`(?m)^\s*(password|auth_token|secret_string|master_password)\s*=\s*"`)
	var problems []string
	for _, b := range cfg.all {
		if m := secretAttr.FindStringSubmatch(b.body); m != nil {
			problems = append(problems, b.String()+": "+m[1]+" is a string literal")
		}
	}
	return problems
}

// checkServiceTaskRole: the api/worker task role names only the documents bucket (and its objects) and the
// documents key, with explicit actions (no wildcards), so a compromised container reaches nothing else.
func checkServiceTaskRole(cfg config) []string {
	var doc *block
	for _, b := range cfg.all {
		if b.kind == "data" && b.typ == "aws_iam_policy_document" && b.name == "service_task" {
			doc = b
		}
	}
	if doc == nil {
		return []string{`data "aws_iam_policy_document" "service_task" not found`}
	}
	allowed := map[string]bool{
		"aws_s3_bucket.documents.arn": true, `"${aws_s3_bucket.documents.arn}/*"`: true, "aws_kms_key.documents.arn": true,
	}
	var problems []string
	stmts := doc.blocks("statement")
	if len(stmts) == 0 {
		problems = append(problems, doc.String()+": no statement")
	}
	for _, st := range stmts {
		res := strings.Trim(st.attr("resources"), "[] ")
		for _, r := range strings.Split(res, ",") {
			if r = strings.TrimSpace(r); r != "" && !allowed[r] {
				problems = append(problems, doc.String()+": resource "+r+" is not the documents bucket or key")
			}
		}
		if res == "" {
			problems = append(problems, doc.String()+": a statement without resources")
		}
		if strings.Contains(st.body, `*"`) && regexp.MustCompile(`"(s3|kms):[A-Za-z]*\*"`).MatchString(st.body) {
			problems = append(problems, doc.String()+": a wildcard action")
		}
	}
	return problems
}

// --- A small reader of .tf files -----------------------------------------------------------------------------

type config struct{ all []*block }

type block struct {
	kind, typ, name string // e.g. resource, aws_s3_bucket, documents
	file            string
	body            string // text between the braces, comments removed
}

func (b *block) String() string { return b.file + ": " + b.kind + " " + b.typ + "." + b.name }

func (c config) ofType(typ string) []*block {
	var out []*block
	for _, b := range c.all {
		if b.kind == "resource" && b.typ == typ {
			out = append(out, b)
		}
	}
	return out
}

func (c config) one(typ, name string) *block {
	for _, b := range c.ofType(typ) {
		if b.name == name {
			return b
		}
	}
	return nil
}

// attr returns the raw expression of a top-level attribute of the block (not one inside a nested block),
// with surrounding space trimmed, or "" when it is absent.
func (b *block) attr(key string) string {
	re := regexp.MustCompile(`(?m)^[ \t]*` + regexp.QuoteMeta(key) + `[ \t]*=[ \t]*(.*?)[ \t]*$`)
	if m := re.FindStringSubmatch(topLevel(b.body)); m != nil {
		return m[1]
	}
	return ""
}

// blocks returns the nested blocks of the given type directly inside b.
func (b *block) blocks(typ string) []*block {
	var out []*block
	for _, nb := range findBlocks(b.body, regexp.MustCompile(`(?m)^[ \t]*`+regexp.QuoteMeta(typ)+`[ \t]*\{`), true) {
		out = append(out, &block{kind: typ, file: b.file, body: nb})
	}
	return out
}

func orMissing(v string) string {
	if v == "" {
		return "(missing)"
	}
	return v
}

var header = regexp.MustCompile(`(?m)^(resource|data)[ \t]+"([^"]+)"[ \t]+"([^"]+)"[ \t]*\{`)

func loadConfig(t *testing.T, dir string) config {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no .tf files in %s", dir)
	}
	var cfg config
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := stripComments(string(src))
		for _, loc := range header.FindAllStringSubmatchIndex(text, -1) {
			body, ok := matchBrace(text, loc[1]-1)
			if !ok {
				t.Fatalf("%s: unbalanced braces after %q", f, text[loc[0]:loc[1]])
			}
			cfg.all = append(cfg.all, &block{
				kind: text[loc[2]:loc[3]], typ: text[loc[4]:loc[5]], name: text[loc[6]:loc[7]],
				file: filepath.Base(f), body: body,
			})
		}
	}
	return cfg
}

// findBlocks returns the bodies of blocks whose opening line matches open; with topOnly, only those at depth 0
// of text.
func findBlocks(text string, open *regexp.Regexp, topOnly bool) []string {
	var out []string
	for _, loc := range open.FindAllStringIndex(text, -1) {
		if topOnly && depthAt(text, loc[0]) != 0 {
			continue
		}
		if body, ok := matchBrace(text, loc[1]-1); ok {
			out = append(out, body)
		}
	}
	return out
}

// matchBrace returns the text between the '{' at text[open] and its matching '}'. Braces inside quoted strings
// are ignored (interpolations are balanced within their string anyway).
func matchBrace(text string, open int) (string, bool) {
	depth, inStr := 0, false
	for i := open; i < len(text); i++ {
		switch c := text[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{':
			depth++
		case c == '}':
			depth--
			if depth == 0 {
				return text[open+1 : i], true
			}
		}
	}
	return "", false
}

// depthAt is the brace depth at position pos of text.
func depthAt(text string, pos int) int {
	depth, inStr := 0, false
	for i := 0; i < pos && i < len(text); i++ {
		switch c := text[i]; {
		case inStr && c == '\\':
			i++
		case c == '"':
			inStr = !inStr
		case inStr:
		case c == '{':
			depth++
		case c == '}':
			depth--
		}
	}
	return depth
}

// topLevel blanks out everything inside nested braces, so attributes of nested blocks or maps are not mistaken
// for the block's own.
func topLevel(body string) string {
	var sb strings.Builder
	depth, inStr := 0, false
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case inStr && c == '\\':
			if depth == 0 {
				sb.WriteByte(c)
				if i+1 < len(body) {
					sb.WriteByte(body[i+1])
				}
			}
			i++
			continue
		case c == '"':
			inStr = !inStr
		case !inStr && c == '{':
			depth++
			if depth == 1 {
				sb.WriteByte(c)
			}
			continue
		case !inStr && c == '}':
			depth--
			if depth == 0 {
				sb.WriteByte(c)
			}
			continue
		}
		if depth == 0 || c == '\n' {
			sb.WriteByte(c)
		}
	}
	return sb.String()
}

// stripComments removes # and // comments that are not inside quoted strings.
func stripComments(src string) string {
	var sb strings.Builder
	inStr := false
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case inStr && c == '\\':
			sb.WriteByte(c)
			if i+1 < len(src) {
				sb.WriteByte(src[i+1])
			}
			i++
			continue
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '#' || (c == '/' && i+1 < len(src) && src[i+1] == '/')):
			for i < len(src) && src[i] != '\n' {
				i++
			}
			if i < len(src) {
				sb.WriteByte('\n')
			}
			continue
		case c == '\n':
			inStr = false // no multi-line strings in these files; recover from any stray quote
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// replaceLoose replaces the first occurrence of old in src, letting any whitespace in old (spaces, alignment,
// line breaks) match any run of whitespace.
func replaceLoose(src, old, new string) (string, bool) {
	parts := strings.Fields(old)
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	loc := regexp.MustCompile(strings.Join(parts, `\s+`)).FindStringIndex(src)
	if loc == nil {
		return src, false
	}
	return src[:loc[0]] + new + src[loc[1]:], true
}

func copyTF(t *testing.T, from, to string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(from, "*.tf"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
