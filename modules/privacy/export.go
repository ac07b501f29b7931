package privacy

import (
	"archive/zip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/frontdoor"
	"github.com/brokerdesk/brokerdesk/tenants"
)

type exportedEvent struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	// Sentence is the row as the back office's timeline says it ("Colin Compliance approved the passport").
	Sentence string          `json:"sentence"`
	Diff     json.RawMessage `json:"changes,omitempty"`
}

const readme = `This archive holds the personal data %s keeps about client %s, exported on %s.

%s
`

// activityFile describes privacy's own file in the README.
const activityFile = "activity.json   the recorded actions on your client record (who, what, when)"

// Export is one data-subject export: recorded and audited by BeginExport, written by WriteTo.
type Export struct {
	s        *Service
	t        tenants.Tenant
	clientID uuid.UUID
}

// BeginExport records and audits an export of the client's data (an export attempt is on record even if the
// download then fails) and returns it for writing. ErrNotFound for a client that is not t's.
func (s *Service) BeginExport(ctx context.Context, t tenants.Tenant, clientID uuid.UUID, actor audit.Actor) (*Export, error) {
	x := &Export{s: s, t: t, clientID: clientID}
	err := s.gate.Scope(ctx, t, func(ctx context.Context, tx pgx.Tx) error {
		if _, err := s.clients.RecordTx(ctx, tx, clientID, false); err != nil {
			return err
		}
		if err := recordRequest(ctx, tx, clientID, "export", "done", Assessment{}, actor); err != nil {
			return err
		}
		return s.trail.Record(ctx, tx, audit.Entry{Actor: actor, Action: ActionExported, Target: clientTarget(clientID)})
	})
	if err != nil {
		return nil, err
	}
	return x, nil
}

// FileName is the archive's suggested download name.
func (x *Export) FileName() string {
	return "client-" + x.clientID.String() + "-" + x.s.now().UTC().Format("20060102") + ".zip"
}

// WriteTo writes the zip: each data holder's share, activity.json and README.txt listing them.
func (x *Export) WriteTo(ctx context.Context, w io.Writer) error {
	s, t, clientID := x.s, x.t, x.clientID
	zw := zip.NewWriter(w)
	var files []string
	for _, h := range s.holders {
		if err := h.ExportClient(ctx, t, clientID, zw); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		files = append(files, h.PersonalData()...)
	}
	events, err := s.activity(ctx, t, clientID)
	if err != nil {
		return err
	}
	if err := frontdoor.ExportJSON(zw, "activity.json", events, s.now()); err != nil {
		return err
	}
	files = append(files, activityFile)
	f, err := zw.CreateHeader(&zip.FileHeader{Name: "README.txt", Method: zip.Deflate, Modified: s.now()})
	if err != nil {
		return err
	}
	text := fmt.Sprintf(readme, "the brokerage ("+t.Slug+")", clientID, s.now().UTC().Format(time.RFC3339), strings.Join(files, "\n"))
	if _, err := io.WriteString(f, text); err != nil {
		return err
	}
	return zw.Close()
}

// exportActors name the parties of an export's sentences.
var exportActors = map[audit.ActorKind]audit.Ref{audit.ActorClient: {Name: "you"}, audit.ActorStaff: {Name: "a member of staff"},
	audit.ActorAPIKey: {Name: "an integration of the brokerage"}, audit.ActorOperator: {Name: "BrokerDesk's operations team"}}

func capitalized(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// activity is every audit row whose target is the client, oldest first, with its sentence.
func (s *Service) activity(ctx context.Context, t tenants.Tenant, clientID uuid.UUID) ([]exportedEvent, error) {
	var out []exportedEvent
	cursor := ""
	for {
		page, err := s.trail.List(ctx, t, audit.Filter{TargetType: "client", TargetID: clientID.String()}, cursor, audit.MaxLimit)
		if err != nil {
			return nil, fmt.Errorf("export activity: %w", err)
		}
		told, err := s.trail.Tell(ctx, t, page.Rows)
		if err != nil {
			return nil, fmt.Errorf("export activity: %w", err)
		}
		for _, r := range told {
			// The client reads "you", and the brokerage's people by their role: the export is the client's, not a
			// list of who works at the brokerage.
			if as, ok := exportActors[r.Row.Actor.Kind]; ok {
				r = s.trail.TellOne(audit.NewEvent(r.Row, as, r.Target))
			}
			out = append(out, exportedEvent{At: r.At, Actor: string(r.Row.Actor.Kind), Action: r.Action, Sentence: capitalized(r.Sentence.String()), Diff: r.Diff})
		}
		if page.Next == "" {
			break
		}
		cursor = page.Next
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if out == nil {
		out = []exportedEvent{}
	}
	return out, nil
}
