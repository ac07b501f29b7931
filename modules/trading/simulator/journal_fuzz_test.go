package simulator

import (
	"bytes"
	"testing"
	"time"
)

// FuzzParseEvent feeds the journal parser arbitrary lines. A line it accepts must re-encode to a canonical form
// that parses to the same encoding again (so compaction and replay agree), and applying it to a fresh state may
// refuse but never panic: a damaged journal must stop Open with an error, not crash the server.
func FuzzParseEvent(f *testing.F) {
	f.Add([]byte(`{"seq":1,"at":"2025-06-02T09:00:00Z","type":"prices","prices":{"EURUSD":108500}}`))
	f.Add([]byte(`{"seq":1,"type":"leverage_set","leverage":{"login":"100000","leverage":200}}`))
	f.Add([]byte(`{"seq":1,"type":"balance","balance":{"login":"1","kind":"deposit","amount":"1.5"}}`))
	f.Add([]byte(`{"seq":1,"type":"balance","group":{"login":"1","group":"x"}}`))
	f.Add([]byte(`{"seq":0,"type":"prices","prices":{}}`))
	f.Add([]byte(`{"seq":1,"type":"nope"}`))
	f.Add([]byte(`{"seq":1}{"seq":2}`))
	f.Add([]byte("not json"))
	// Every kind of line the simulator really writes.
	s, dir := openTest(f, Options{PasswordIterations: 1, SnapshotEvery: -1, Now: stepClock(time.Unix(1_750_000_000, 0))})
	mutateEverything(f, s)
	for line := range bytes.SplitSeq(readFileTB(f, dir, journalFile), []byte("\n")) {
		if len(line) > 0 {
			f.Add(line)
		}
	}

	f.Fuzz(func(t *testing.T, line []byte) {
		ev, err := parseEvent(line)
		if err != nil {
			return
		}
		first, err := encodeEvent(ev)
		if err != nil {
			t.Fatalf("accepted line does not re-encode: %v", err)
		}
		again, err := parseEvent(first)
		if err != nil {
			t.Fatalf("re-encoded line %s does not parse: %v", first, err)
		}
		second, err := encodeEvent(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("encoding is not stable:\n%s\n%s", first, second)
		}
		st := newState(100_000, startPrices())
		ev.Seq = 1
		_ = st.apply(ev)
		if bytes.Count(first, []byte("\n")) != 1 {
			t.Fatalf("encoded event is not exactly one line, so it would split the journal: %q", first)
		}
	})
}
