package audit_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
)

func TestSentencesAreTextForExportsAndEscapedLinkedHTMLForPages(t *testing.T) {
	t.Parallel()
	colin := audit.Ref{Name: "Colin <Compliance>", Href: "/backoffice/audit?actor=staff:1&x=2"}
	s := audit.Say(colin, " approved the ", audit.Ref{Name: "passport"}, " & ", 3, " more", "")
	if got := s.String(); got != "Colin <Compliance> approved the passport & 3 more" {
		t.Errorf("text: %q", got)
	}
	if got := string(s.HTML()); got != `<a href="/backoffice/audit?actor=staff:1&amp;x=2">Colin &lt;Compliance&gt;</a> approved the passport &amp; 3 more` {
		t.Errorf("html: %q", got)
	}
	for noun, want := range map[string]string{"passport": "a passport", "proof of address": "a proof of address", "ID card": "an ID card",
		"API key": "an API key", "selfie": "a selfie", "empty": "an empty", "": ""} {
		if got := audit.A(noun); got != want {
			t.Errorf("A(%q) = %q, want %q", noun, got, want)
		}
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{10 * time.Second: "just now", time.Minute: "1 minute ago", 5 * time.Minute: "5 minutes ago",
		3 * time.Hour: "3 hours ago", 50 * time.Hour: "2 days ago", 60 * 24 * time.Hour: "2 months ago", 800 * 24 * time.Hour: "2 years ago"} {
		if got := audit.Ago(now, now.Add(-d)); got != want {
			t.Errorf("Ago(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestPhrasesReadTheDiffAndAnUnknownActionStillReads(t *testing.T) {
	t.Parallel()
	svc := audit.NewService(nil)
	svc.Phrases(audit.Phrase{Action: "widget.renamed", Kind: "Widgets", Say: func(e audit.Event) audit.Sentence {
		return audit.Say(e.Actor, " renamed ", e.Target, " from ", e.Before("/name"), " to ", e.After("/name"), " (", e.After("/size"), ")")
	}})
	diff, err := audit.Diff(map[string]any{"name": "old"}, map[string]any{"name": "new", "size": 3})
	if err != nil {
		t.Fatal(err)
	}
	row := audit.Row{Action: "widget.renamed", Actor: audit.Actor{Kind: audit.ActorStaff, ID: "s1"}, Target: audit.Target{Type: "widget", ID: "w1"}, Diff: diff}
	told := svc.TellOne(audit.NewEvent(row, audit.Ref{Name: "Ada"}, audit.Ref{Name: "the big widget"}))
	if got := told.Sentence.String(); got != "Ada renamed the big widget from old to new (3)" || told.Kind != "Widgets" || !told.Known {
		t.Errorf("told %q kind %q known %v", got, told.Kind, told.Known)
	}
	row.Action = "widget.melted"
	told = svc.TellOne(audit.NewEvent(row, audit.Ref{Name: "Ada"}, audit.Ref{Name: "the big widget"}))
	if got := told.Sentence.String(); got != "Ada recorded widget.melted on the big widget" || told.Known || told.Kind != "Other" {
		t.Errorf("fallback %q kind %q known %v", got, told.Kind, told.Known)
	}
	if !slices.Equal(svc.Kinds(), []string{"Widgets"}) || !slices.Equal(svc.ActionsOf("Widgets"), []string{"widget.renamed"}) || svc.ActionsOf("Nope") != nil {
		t.Errorf("kinds %v, actions %v", svc.Kinds(), svc.ActionsOf("Widgets"))
	}
	if err := svc.PhrasesErr(); err != nil {
		t.Fatal(err)
	}
	say := func(audit.Event) audit.Sentence { return nil }
	svc.Phrases(audit.Phrase{Action: "widget.renamed", Kind: "Widgets", Say: say}, audit.Phrase{Action: "Not An Action", Kind: "x", Say: say},
		audit.Phrase{Action: "widget.kindless", Say: say})
	svc.Names("widget", func(context.Context, pgx.Tx, []string) (map[string]audit.Ref, error) { return nil, nil })
	svc.Names("widget", func(context.Context, pgx.Tx, []string) (map[string]audit.Ref, error) { return nil, nil })
	err = svc.PhrasesErr()
	for _, want := range []string{`"widget.renamed" declared twice`, `"Not An Action"`, `"widget.kindless"`, `names of "widget" declared twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("declaration errors %v lack %s", err, want)
		}
	}
}

// A subject's timeline: its own rows and its related records' rows, newest first, of one kind; every party named
// by its module (in one scope per page), the system as BrokerDesk, and the unknown by kind.
func TestTimelineTellsASubjectsRowsAndItsRelatedRecordsRowsByName(t *testing.T) {
	t.Parallel()
	b := setup(t)
	svc := b.svc
	svc.Phrases(
		audit.Phrase{Action: "client.registered", Kind: "Onboarding", Say: func(e audit.Event) audit.Sentence { return audit.Say(e.Target, " registered") }},
		audit.Phrase{Action: "document.uploaded", Kind: "Documents", Say: func(e audit.Event) audit.Sentence { return audit.Say(e.Actor, " uploaded ", e.Target) }},
		audit.Phrase{Action: "document.approved", Kind: "Documents", Say: func(e audit.Event) audit.Sentence { return audit.Say(e.Actor, " approved the ", e.Target) }},
	)
	calls := 0
	svc.Names("client", func(_ context.Context, _ pgx.Tx, ids []string) (map[string]audit.Ref, error) {
		calls++
		return map[string]audit.Ref{"c1": {Name: "Dana Demo", Href: "/backoffice/clients/c1"}}, nil
	})
	svc.Names("staff", func(_ context.Context, _ pgx.Tx, ids []string) (map[string]audit.Ref, error) {
		return map[string]audit.Ref{"s1": {Name: "Colin Compliance"}}, nil
	})
	svc.Names("document", func(_ context.Context, _ pgx.Tx, ids []string) (map[string]audit.Ref, error) {
		return map[string]audit.Ref{"d1": {Name: "passport"}, "d2": {Name: "proof of address"}}, nil
	})
	svc.Relate("client", func(_ context.Context, _ pgx.Tx, id string) ([]audit.Target, error) {
		if id != "c1" {
			return nil, nil
		}
		return []audit.Target{{Type: "document", ID: "d1"}, {Type: "document", ID: "d2"}}, nil
	})
	client := audit.Actor{Kind: audit.ActorClient, ID: "c1"}
	b.record(t,
		audit.Entry{Actor: client, Action: "client.registered", Target: audit.Target{Type: "client", ID: "c1"}},
		audit.Entry{Actor: client, Action: "document.uploaded", Target: audit.Target{Type: "document", ID: "d1"}},
		audit.Entry{Actor: audit.Actor{Kind: audit.ActorClient, ID: "c2"}, Action: "client.registered", Target: audit.Target{Type: "client", ID: "c2"}},
		audit.Entry{Actor: client, Action: "document.uploaded", Target: audit.Target{Type: "document", ID: "d2"}},
		audit.Entry{Actor: audit.Actor{Kind: audit.ActorStaff, ID: "s1"}, Action: "document.approved", Target: audit.Target{Type: "document", ID: "d1"}},
		audit.Entry{Actor: audit.System("expiry"), Action: "document.expired", Target: audit.Target{Type: "document", ID: "d9"}},
		audit.Entry{Actor: audit.Actor{Kind: audit.ActorStaff, ID: "gone"}, Action: "client.noted", Target: audit.Target{Type: "client", ID: "c1"}},
	)
	ctx := context.Background()
	subject := audit.Target{Type: "client", ID: "c1"}
	tell := func(kind, cursor string, limit int) ([]string, string) {
		t.Helper()
		page, err := svc.Timeline(ctx, b.ten, subject, kind, cursor, limit)
		if err != nil {
			t.Fatal(err)
		}
		told, err := svc.Tell(ctx, b.ten, page.Rows)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range told {
			out = append(out, r.Kind+": "+r.Sentence.String())
		}
		return out, page.Next
	}
	got, next := tell("", "", 3)
	want := []string{"Other: a staff user recorded client.noted on Dana Demo", "Documents: Colin Compliance approved the passport",
		"Documents: Dana Demo uploaded proof of address"}
	if !slices.Equal(got, want) || next == "" {
		t.Fatalf("first page:\n got %q\nwant %q (next %q)", got, want, next)
	}
	if got, next = tell("", next, 3); !slices.Equal(got, []string{"Documents: Dana Demo uploaded passport", "Onboarding: Dana Demo registered"}) || next != "" {
		t.Errorf("second page: %q (next %q)", got, next)
	}
	if got, _ = tell("Documents", "", 10); len(got) != 3 || slices.ContainsFunc(got, func(s string) bool { return !strings.HasPrefix(s, "Documents: ") }) {
		t.Errorf("documents only: %q", got)
	}
	if _, err := svc.Timeline(ctx, b.ten, subject, "Nope", "", 10); err == nil {
		t.Error("an unknown kind filters nothing silently")
	}
	// The whole trail: the system is BrokerDesk, a record nobody names reads by its kind.
	page, err := svc.List(ctx, b.ten, audit.Filter{ActionPrefix: "document.expired"}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	told, err := svc.Tell(ctx, b.ten, page.Rows)
	if err != nil || len(told) != 1 || told[0].Sentence.String() != "BrokerDesk recorded document.expired on document d9" {
		t.Errorf("system row: %+v %v", told, err)
	}
	before := calls
	if _, err := svc.Tell(ctx, b.ten, listAll(t, b, audit.Filter{}, 100)); err != nil || calls != before+1 {
		t.Errorf("one name lookup per kind per page: %d calls (%v)", calls-before, err)
	}
	names, err := svc.NameActors(ctx, b.ten, []audit.Actor{client, audit.System("kyc"), {Kind: audit.ActorOperator, ID: "op"}})
	if err != nil || names[client].Name != "Dana Demo" || names[audit.System("kyc")].Name != "BrokerDesk" || names[audit.Actor{Kind: audit.ActorOperator, ID: "op"}].Name != "a BrokerDesk operator" {
		t.Errorf("actor names: %v %v", names, err)
	}
}
