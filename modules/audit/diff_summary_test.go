package audit

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// A change too large to keep whole is recorded as a summary in the diff's own shape, never refused: a settings
// document of ten thousand rules must be savable (and audited) like a small one.
func TestALargeChangeIsSummarisedNotRefused(t *testing.T) {
	t.Parallel()
	rules := func(n int) []map[string]any {
		out := make([]map[string]any, n)
		for i := range out {
			out[i] = map[string]any{"tier": "pro", "countries": []string{"DE", "FR"}, "n": i}
		}
		return out
	}
	many := func(v string) map[string]any {
		out := map[string]any{}
		for i := range 20000 {
			out[fmt.Sprintf("key_%05d", i)] = v
		}
		return out
	}
	manyTop := map[string]any{}
	for i := range 20000 {
		manyTop[fmt.Sprintf("k%05d", i)] = map[string]any{"a": i}
	}
	cases := []struct {
		name          string
		before, after any
		want          []string // substrings of the summary
	}{
		{"a list replaced by a long one", map[string]any{"tier_rules": rules(1), "min": 18},
			map[string]any{"tier_rules": rules(10000), "min": 21, WeakenedKey: []string{"minimum age lowered"}},
			[]string{`"/tier_rules":{"after":"[omitted: array of 10000 items`, `"before":"[omitted: array of 1 items`, `"/min":{"after":21,"before":18}`,
				`"/weakened":{"after":["minimum age lowered"]}`}},
		{"a document of many keys", map[string]any{"settings": many("v")}, map[string]any{"settings": many("w")},
			[]string{`"/settings":{"after":"[omitted: 20000 changed values]"}`}},
		{"many top-level keys", nil, manyTop, []string{`"":{"after":"[omitted: 20000 changed values`}},
		{"secrets stay redacted", nil, map[string]any{"password": strings.Repeat("p", 100), "rules": rules(10000)},
			[]string{`"/password":{"after":"[redacted]"}`}},
	}
	for _, c := range cases {
		got, err := Diff(c.before, c.after)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(got) > MaxDiffBytes || !json.Valid(got) {
			t.Errorf("%s: %d bytes, valid %v", c.name, len(got), json.Valid(got))
		}
		for _, w := range c.want {
			if !strings.Contains(string(got), w) {
				t.Errorf("%s: %.300s\nlacks %s", c.name, got, w)
			}
		}
		if strings.Contains(string(got), strings.Repeat("p", 100)) {
			t.Errorf("%s: a secret was kept", c.name)
		}
	}
}

// The weakening a settings page shows is read back from the row's diff.
func TestWeakeningIsReadFromTheDiff(t *testing.T) {
	t.Parallel()
	d, err := Diff(map[string]any{"four_eyes": true}, map[string]any{"four_eyes": false, WeakenedKey: []string{"four-eyes approval turned off"}})
	if err != nil {
		t.Fatal(err)
	}
	w := WeakeningOf(Row{Diff: d, Actor: Actor{Kind: ActorStaff, ID: "s1"}})
	if w == nil || len(w.What) != 1 || w.What[0] != "four-eyes approval turned off" || !strings.Contains(w.Notice(), "four-eyes approval turned off") {
		t.Fatalf("weakening %+v from %s", w, d)
	}
	plain, _ := Diff(map[string]any{"four_eyes": false}, map[string]any{"four_eyes": true})
	if w := WeakeningOf(Row{Diff: plain}); w != nil {
		t.Fatalf("a strengthening read as a weakening: %+v", w)
	}
}
