package migrations

import (
	"testing"
	"testing/fstest"
)

func TestEmbeddedSetsAreNumberedFromOneWithoutGaps(t *testing.T) {
	t.Parallel()
	for _, s := range []Set{Platform(), Tenant()} {
		if len(s.Migrations) == 0 {
			t.Fatalf("%s: no migrations embedded", s.Name)
		}
		for i, m := range s.Migrations {
			if m.Version != i+1 {
				t.Errorf("%s: migration #%d has version %d; versions must run 1, 2, 3...", s.Name, i+1, m.Version)
			}
			if m.Checksum == "" || m.SQL == "" {
				t.Errorf("%s %04d: empty", s.Name, m.Version)
			}
		}
	}
}

func TestLoadRefusesBadNamesAndDuplicateVersions(t *testing.T) {
	t.Parallel()
	cases := map[string]fstest.MapFS{
		"bad name":          {"x/1_init.sql": {Data: []byte("SELECT 1")}},
		"upper case":        {"x/0001_Init.sql": {Data: []byte("SELECT 1")}},
		"duplicate version": {"x/0001_a.sql": {Data: []byte("SELECT 1")}, "x/0001_b.sql": {Data: []byte("SELECT 1")}},
	}
	for name, fsys := range cases {
		if _, err := load("x", fsys); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
	s, err := load("x", fstest.MapFS{"x/0002_b.sql": {Data: []byte("B")}, "x/0001_a.sql": {Data: []byte("A")}})
	if err != nil || len(s.Migrations) != 2 || s.Migrations[0].Name != "a" || s.Latest() != 2 {
		t.Fatalf("ordered load: %+v, %v", s, err)
	}
}
