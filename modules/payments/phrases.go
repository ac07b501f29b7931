package payments

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/brokerdesk/brokerdesk/infra/money"
	"github.com/brokerdesk/brokerdesk/modules/audit"
	"github.com/brokerdesk/brokerdesk/modules/clients"
)

// How money in reads in the audit trail (frontdoor.Door.Trail): a deposit is named by its amount ("deposit of
// 500.00 USD") and linked to its page, a case by its kind, a gateway by its name; a client's deposits and cases
// belong on the client's timeline.

// KindMoney is the kind of the module's actions on the audit page's filter.
const KindMoney = "Money in"

// Phrases are the sentences of the module's audited actions.
func Phrases() []audit.Phrase {
	money := func(action string, f func(e audit.Event) audit.Sentence) audit.Phrase {
		return audit.Phrase{Action: action, Kind: KindMoney, Say: f}
	}
	return []audit.Phrase{
		money(ActionDepositStarted, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " started a ", e.Target, " through ", gatewayWord(e.After("/gateway")))
		}),
		money(ActionDepositCompleted, func(e audit.Event) audit.Sentence {
			s := audit.Say("The ", e.Target, e.Whose(), " was credited to the wallet")
			if n := e.After("/deposit_number"); n != "" && n != "1" {
				s = audit.Say(s, " (deposit number ", n, ")")
			} else if n == "1" {
				s = audit.Say(s, " (the first deposit)")
			}
			if e.Actor.Name != "" && e.Row.Actor.Kind != audit.ActorSystem {
				s = audit.Say(s, " by ", e.Actor)
			}
			return s
		}),
		money(ActionDepositFailed, func(e audit.Event) audit.Sentence {
			s := audit.Say("The ", e.Target, e.Whose(), " failed")
			if f := e.After("/failure"); f != "" {
				s = audit.Say(s, ": ", strings.TrimSuffix(f, "."))
			}
			return s
		}),
		money(ActionDepositRecorded, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " recorded a bank ", e.Target, e.Whose())
			if ref := e.After("/bank_reference"); ref != "" {
				s = audit.Say(s, " (bank reference ", ref, ")")
			}
			if e.After("/evidence_type") != "" {
				s = audit.Say(s, " with the bank statement attached")
			}
			if e.After("/needs_second_approval") == "true" {
				s = audit.Say(s, "; a second approver must confirm it (four-eyes)")
			}
			return s
		}),
		money(ActionEvidenceViewed, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " opened the bank statement of the ", e.Target, e.Whose())
		}),
		money(ActionDepositApproved, func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " approved the ", e.Target, e.Whose(), " as second approver")
		}),
		money(ActionDepositRejected, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " rejected the ", e.Target, e.Whose())
			if r := e.After("/reason"); r != "" {
				s = audit.Say(s, ": ", strings.TrimSuffix(r, "."))
			}
			return s
		}),
		money(ActionExceptionOpened, func(e audit.Event) audit.Sentence {
			s := audit.Say("A payment exception opened: ", e.Target, e.Whose())
			if amount := e.After("/amount"); amount != "" {
				s = audit.Say(s, " for ", amount, " ", e.After("/currency"))
			}
			if e.After("/assignee_id") == "" {
				s = audit.Say(s, ", not yet assigned (no active finance staff)")
			}
			return s
		}),
		money(ActionExceptionResolved, func(e audit.Event) audit.Sentence {
			s := audit.Say(e.Actor, " resolved the ", e.Target, e.Whose(), ": ", resolutionPhrase(Resolution(e.After("/resolution"))))
			if n := e.After("/note"); n != "" {
				s = audit.Say(s, " (", strings.TrimSuffix(n, "."), ")")
			}
			return s
		}),
		{Action: ActionGatewaySaved, Kind: "Settings", Say: func(e audit.Event) audit.Sentence {
			verb := " changed the payment gateway "
			if e.Changed("/kind") && e.Before("/kind") == "" {
				verb = " added the payment gateway "
			}
			s := audit.Say(e.Actor, verb, e.Target)
			if e.After("/keys_rotated") == "true" {
				s = audit.Say(s, " and rotated its keys")
			}
			if e.Changed("/enabled") && e.After("/enabled") == "false" {
				s = audit.Say(s, "; it no longer takes payments")
			}
			return s
		}},
		{Action: ActionSettingsChanged, Kind: "Settings", Say: func(e audit.Event) audit.Sentence {
			return audit.Say(e.Actor, " changed the money-in settings")
		}},
	}
}

// gatewayWord is a gateway slug as a sentence says it.
func gatewayWord(slug string) string {
	if slug == "" {
		return "a payment method"
	}
	return slug
}

// resolutionPhrase is how a case was closed, as a sentence ends.
func resolutionPhrase(r Resolution) string {
	switch r {
	case ResolvedMatched:
		return "credited to the client from suspense"
	case ResolvedRefunded:
		return "refunded to the payer"
	case ResolvedWrittenOff:
		return "written off"
	case ResolvedDismissed:
		return "dismissed"
	}
	return string(r)
}

// trail declares how the module's rows read on the audit service it holds.
func (s *Service) trail() {
	s.o.Audit.Phrases(Phrases()...)
	s.o.Audit.Names(depositTargetType, NameDeposits)
	s.o.Audit.Names(caseTargetType, NameCases)
	s.o.Audit.Names("payment_gateway", NameGateways)
	s.o.Audit.Relate("client", audit.RelatedBy(depositTargetType, `SELECT id FROM deposits WHERE client_id = $1`))
	s.o.Audit.Relate("client", audit.RelatedBy(caseTargetType, `SELECT id FROM payment_exceptions WHERE client_id = $1`))
}

// NameDeposits names deposits by their amount ("deposit of 500.00 USD"), linked to the deposit's page, owned by
// their client.
func NameDeposits(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, client_id, amount, currency, exponent FROM deposits WHERE id = ANY($1)`, audit.UUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("deposit names: %w", err)
	}
	refs, owners := map[string]audit.Ref{}, map[string]uuid.UUID{}
	var id, client uuid.UUID
	var amount money.Amount
	_, err = pgx.ForEachRow(rows, []any{&id, &client, &amount.Minor, &amount.Currency.Code, &amount.Currency.Exponent}, func() error {
		refs[id.String()] = audit.Ref{Name: "deposit of " + amount.String(), Href: depositsPath + "/" + id.String()}
		owners[id.String()] = client
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("deposit names: %w", err)
	}
	return clients.Owned(ctx, tx, refs, owners)
}

// NameCases names exception cases by their kind ("amount differs case"), linked to the case's page, owned by their
// client when they have one.
func NameCases(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, kind, client_id FROM payment_exceptions WHERE id = ANY($1)`, audit.UUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("case names: %w", err)
	}
	refs, owners := map[string]audit.Ref{}, map[string]uuid.UUID{}
	var id uuid.UUID
	var client *uuid.UUID
	var kind string
	_, err = pgx.ForEachRow(rows, []any{&id, &kind, &client}, func() error {
		l := CaseKind(kind).Label()
		refs[id.String()] = audit.Ref{Name: strings.ToLower(l[:1]) + l[1:] + " case", Href: exceptionsPath + "/" + id.String()}
		if client != nil {
			owners[id.String()] = *client
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("case names: %w", err)
	}
	return clients.Owned(ctx, tx, refs, owners)
}

// NameGateways names gateways by the name the tenant gave them, linked to the payment settings.
func NameGateways(ctx context.Context, tx pgx.Tx, ids []string) (map[string]audit.Ref, error) {
	rows, err := tx.Query(ctx, `SELECT id, name FROM payment_gateways WHERE id = ANY($1)`, audit.UUIDs(ids))
	if err != nil {
		return nil, fmt.Errorf("gateway names: %w", err)
	}
	out := map[string]audit.Ref{}
	for rows.Next() {
		var id uuid.UUID
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return nil, err
		}
		out[id.String()] = audit.Ref{Name: name, Href: settingsPath}
	}
	return out, rows.Err()
}
