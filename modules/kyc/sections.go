package kyc

import (
	"context"
	"html/template"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/web"
	"github.com/brokerdesk/brokerdesk/modules/clients"
	"github.com/brokerdesk/brokerdesk/tenants"
)

// The client page's "KYC review" tab (the shell's client hub): every review case of the client, newest first, with
// where it stands, the decision and its reason in the officer's words, who decided, and a link to the case.

type hubCase struct {
	Href, Document, Opened, State, Reason, Officer, Decided, Waited string
	Tone                                                            web.Tone
	Overdue                                                         bool
}

// caseState is a case's state as the tab says it, with its colour.
func caseStateOf(it QueueItem) (string, web.Tone) {
	switch {
	case it.Status == StatusDecided && it.Decision == DecisionApproved:
		return "Approved", web.ToneGood
	case it.Status == StatusDecided && it.Decision == DecisionRejected:
		return "Rejected", web.ToneBad
	case it.Status == StatusDecided && it.Decision == DecisionMoreInfo:
		return "More information requested", web.ToneWarn
	case it.Status == StatusDecided:
		return "Closed: replaced by a newer upload", web.ToneNeutral
	case it.AwaitingSecondApproval():
		return "Awaiting a second approval", web.ToneWarn
	case it.Status == StatusClaimed:
		return "In review", web.ToneInfo
	}
	return "Waiting in the queue", web.ToneWarn
}

// clientCases is a client's review cases, newest first, as the queue names them.
func (s *Service) clientCases(ctx context.Context, t tenants.Tenant, client uuid.UUID) ([]QueueItem, []string, error) {
	var items []QueueItem
	var deciders []string
	err := s.gate.ScopeWith(ctx, t, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(ctx context.Context, tx pgx.Tx) error {
		st, err := settingsTx(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+caseColumns+` FROM kyc_cases WHERE client_id = $1 ORDER BY opened_at DESC, id DESC`, client)
		if err != nil {
			return err
		}
		cases, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Case, error) { return scanCase(r.Scan) })
		if err != nil {
			return err
		}
		n, now := newNames(s.clients), s.now()
		for _, c := range cases {
			it, err := n.item(ctx, tx, c, st, now)
			if err != nil {
				return err
			}
			by, err := n.officerOf(ctx, tx, c.DecidedBy)
			if err != nil {
				return err
			}
			items, deciders = append(items, it), append(deciders, by)
		}
		return nil
	})
	return items, deciders, err
}

func (s *Service) reviewTab(shell *web.Shell) func(c *fiber.Ctx, client uuid.UUID) (template.HTML, error) {
	return func(c *fiber.Ctx, client uuid.UUID) (template.HTML, error) {
		items, deciders, err := s.clientCases(c.UserContext(), tenants.Current(c), client)
		if err != nil {
			return "", err
		}
		var rows []hubCase
		for i, it := range items {
			r := hubCase{Href: casePath + it.ID.String(), Document: DocumentLabel(it.DocumentType),
				Opened: it.OpenedAt.UTC().Format("2006-01-02 15:04"), Officer: deciders[i], Waited: waited(it.Waiting), Overdue: it.Overdue}
			r.State, r.Tone = caseStateOf(it)
			if it.Status != StatusDecided && it.HolderName != "" {
				r.Officer = it.HolderName
			}
			if it.ReasonCode != "" {
				r.Reason = reasonLabel(string(it.ReasonCode))
			}
			if it.Message != "" {
				r.Reason = joinReason(r.Reason, it.Message)
			}
			if it.DecidedAt != nil {
				r.Decided = it.DecidedAt.UTC().Format("2006-01-02 15:04")
			}
			rows = append(rows, r)
		}
		return shell.Fragment(c, "kyc_hub", rows)
	}
}

func joinReason(label, message string) string {
	if label == "" {
		return message
	}
	return label + ": " + message
}

// mountSections adds the KYC review tab to the client page, for reviewers.
func (s *Service) mountSections(shell *web.Shell) {
	shell.HubSection(clients.ClientHub, web.HubSection{ID: "kyc", Label: "KYC review", Order: 30, Permission: PermReview,
		Hint: "The review of each document: decisions, reasons, officers", Render: s.reviewTab(shell)})
}
