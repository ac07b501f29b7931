package validation_test

import (
	"slices"
	"testing"

	"github.com/brokerdesk/brokerdesk/infra/validation"
)

func TestTextRules(t *testing.T) {
	t.Parallel()
	ok := ""
	cases := []struct {
		name, in                            string
		text, line, person, email, edge, ml string // problems of Text, SingleLine, Name, Email, EdgeProblem(single), EdgeProblem(multi); "" passes
	}{
		{"plain", "Ada Lovelace", ok, ok, ok, "must be an email address", ok, ok},
		{"address", "ada@example.com", ok, ok, ok, ok, ok, ok},
		{"accents and scripts", "Zoë Ærøskøbing 山田 محمد", ok, ok, ok, "must be an email address", ok, ok},
		{"line break", "Ada\nLovelace", ok, "control", "control", "control", "control", ok},
		{"tab", "Ada\tLovelace", ok, "control", "control", "control", "control", ok},
		{"CR LF", "line one\r\nline two", ok, "control", "control", "control", "control", ok},
		{"NUL", "Ada\x00", "NUL", "NUL", "NUL", "NUL", "NUL", "NUL"},
		{"escape", "Ada\x1b[31m", "control", "control", "control", "control", "control", ok},
		{"DEL", "Ada\x7f", "control", "control", "control", "control", "control", ok},
		{"C1 control", "Ada\u0085", "control", "control", "control", "control", "control", ok},
		{"line separator", "Ada\u2028Lovelace", "control", "control", "control", "control", "control", ok},
		{"invalid UTF-8", "Ada\xff\xfe", "UTF-8", "UTF-8", "UTF-8", "UTF-8", "UTF-8", "UTF-8"},
		{"bidi override in an email", "moc.elpmaxe@\u202eada", ok, ok, "invisible", "invisible", ok, ok},
		{"zero-width space in a name", "Ada\u200bLovelace", ok, ok, "invisible", "invisible", ok, ok},
		{"zero-width joiner", "Ada\u200dLovelace", ok, ok, "invisible", "invisible", ok, ok},
		{"BOM", "\ufeffAda", ok, ok, "invisible", "invisible", ok, ok},
		{"display name in an email", "Ada <ada@example.com>", ok, ok, ok, "must be an email address", ok, ok},
		{"two addresses", "a@example.com, b@example.com", ok, ok, ok, "must be an email address", ok, ok},
		{"no domain", "ada@", ok, ok, ok, "must be an email address", ok, ok},
		{"no local part", "@example.com", ok, ok, ok, "must be an email address", ok, ok},
	}
	kinds := map[string]string{"NUL": "must not contain NUL characters", "UTF-8": "must be valid UTF-8 text",
		"invisible": "must not contain invisible formatting characters (bidirectional overrides, zero-width spaces or joiners)"}
	want := func(single bool, short string) string {
		switch short {
		case "control":
			if single {
				return "must be one line, without control characters (line breaks, tabs and the like)"
			}
			return "must not contain control characters other than tabs and line breaks"
		case "":
			return ""
		}
		if m, ok := kinds[short]; ok {
			return m
		}
		return short
	}
	for _, c := range cases {
		for _, r := range []struct {
			rule string
			got  string
			want string
		}{
			{"Text", validation.Text(c.in), want(false, c.text)},
			{"SingleLine", validation.SingleLine(c.in), want(true, c.line)},
			{"Name", validation.Name(c.in), want(true, c.person)},
			{"Email", validation.Email(c.in), want(true, c.email)},
			{"EdgeProblem(single)", validation.EdgeProblem(c.in, false), want(true, c.edge)},
			{"EdgeProblem(multi)", validation.EdgeProblem(c.in, true), want(false, c.ml)},
		} {
			if r.got != r.want {
				t.Errorf("%s: %s(%q) = %q, want %q", c.name, r.rule, c.in, r.got, r.want)
			}
		}
	}
}

func TestFieldsTextHelpersRecordOneProblemPerField(t *testing.T) {
	t.Parallel()
	var f validation.Fields
	f.Name("first_name", "Ada\u202e", 100)
	f.SingleLine("reason", "two\nlines", 500)
	f.Text("message", "fine\nlines!", 10) // over the bound only
	f.Email("email", "")                  // empty: left to Required
	f.Email("contact", "not an address")
	f.MaxItems("countries", 251, 250)
	f.MaxItems("tiers", 3, 50)
	f.SingleLine("label", "ok", 0)
	err, _ := validation.As(f.Err())
	var got []string
	for _, fe := range err.Fields {
		got = append(got, fe.Field)
	}
	want := []string{"first_name", "reason", "message", "contact", "countries"}
	if !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v (%v)", got, want, err)
	}
	if !f.Has("reason") || f.Has("label") {
		t.Fatal("Has")
	}
	if m := err.Message("countries"); m != "may hold at most 250 items" {
		t.Fatalf("MaxItems message %q", m)
	}
}
